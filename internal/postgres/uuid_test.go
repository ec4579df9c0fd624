package postgres

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestRegisterUUID(t *testing.T) {
	m := pgtype.NewMap()
	registerUUID(m)
	u := uuid.MustParse("0195f3a2-7c4e-7b1a-9d2e-4f5a6b7c8d9e")
	for _, value := range []any{u, &u} {
		if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, value).(*uuidEncodePlan); !ok {
			if _, deref := value.(*uuid.UUID); !deref { // a pointer's plan wraps ours
				t.Errorf("plan for %T: not the uuid plan", value)
			}
		}
		got, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, value, nil)
		if err != nil || !bytes.Equal(got, u[:]) {
			t.Errorf("encode %T: got %x, %v; want %x", value, got, err, u[:])
		}
		text, err := m.Encode(pgtype.UUIDOID, pgtype.TextFormatCode, value, nil)
		if err != nil || string(text) != u.String() {
			t.Errorf("encode %T as text: got %q, %v; want %q", value, text, err, u.String())
		}
	}
}
