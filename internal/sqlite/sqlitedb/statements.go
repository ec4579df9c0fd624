package sqlitedb

// The statements below are the generated SQL of this package, exported for
// engines that run SQLite's SQL without database/sql: internal/d1 sends
// them through Cloudflare D1's Worker binding, so the edge build and the
// SQLite store share one query.sql. A statement's parameters are bound in
// the field order of its Params struct (or as its one argument), exactly
// as the generated method passes them. This file is written by hand; sqlc
// leaves it alone.
const (
	SQLCreateUser             = createUser
	SQLGetUser                = getUser
	SQLUserExists             = userExists
	SQLUpdateUser             = updateUser
	SQLDeleteUser             = deleteUser
	SQLCountUsers             = countUsers
	SQLCountUsersSearch       = countUsersSearch
	SQLSearchCandidatesUpTo   = searchCandidatesUpTo
	SQLSearchUsersNewest      = searchUsersNewest
	SQLSearchUsersOldest      = searchUsersOldest
	SQLSearchUsersName        = searchUsersName
	SQLSearchUsersNameDesc    = searchUsersNameDesc
	SQLListUsersByEmail       = listUsersByEmail
	SQLListUsersNewest        = listUsersNewest
	SQLListUsersNewestAfter   = listUsersNewestAfter
	SQLListUsersOldest        = listUsersOldest
	SQLListUsersOldestAfter   = listUsersOldestAfter
	SQLListUsersName          = listUsersName
	SQLListUsersNameAfter     = listUsersNameAfter
	SQLListUsersNameDesc      = listUsersNameDesc
	SQLListUsersNameDescAfter = listUsersNameDescAfter
	SQLPurgeIdempotencyKeys   = purgeIdempotencyKeys
	SQLClaimIdempotencyKey    = claimIdempotencyKey
	SQLIdempotencyKey         = idempotencyKey
	SQLAppendEvent            = appendEvent
	SQLEventsAfter            = eventsAfter
	SQLEventBounds            = eventBounds
	SQLPurgeEvents            = purgeEvents
)
