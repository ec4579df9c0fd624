package roster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// UserFields and the JSON tags of User and NewUser name the same fields,
// in the same order, with the same values; the input fields are NewUser's.
func TestUserFieldsMatchJSON(t *testing.T) {
	var names, tags, inputs, newUserTags []string
	for _, f := range UserFields {
		names = append(names, f.Name)
		if f.Set != nil {
			inputs = append(inputs, f.Name)
		}
	}
	for f := range reflect.TypeFor[User]().Fields() {
		tags = append(tags, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	for f := range reflect.TypeFor[NewUser]().Fields() {
		newUserTags = append(newUserTags, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	if !slices.Equal(names, tags) || !slices.Equal(inputs, newUserTags) {
		t.Fatalf("got fields %v (input %v), want User's %v (NewUser's %v)", names, inputs, tags, newUserTags)
	}
	u := User{ID: uuid.New(), Name: "Ada", Email: "ada@example.com", CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC()}
	data, _ := json.Marshal(u)
	var byKey map[string]any
	_ = json.Unmarshal(data, &byKey)
	var in NewUser
	for _, f := range UserFields {
		var got any
		switch f.Kind {
		case FieldID:
			got = f.ID(u).String()
		case FieldText:
			got = f.Text(u)
		case FieldTime:
			got = f.Time(u).Format(TimeLayout)
		}
		if got != byKey[f.Name] {
			t.Errorf("field %s: got %v, want %v (JSON)", f.Name, got, byKey[f.Name])
		}
		if f.Set != nil {
			f.Set(&in, f.Text(u))
		}
	}
	if in != (NewUser{Name: u.Name, Email: u.Email}) {
		t.Errorf("Set: got %+v, want the user's name and email", in)
	}
}

// A create's idempotency fingerprint is derived from UserFields, and is
// still the hash stored records were made with: sha256 of name NUL email.
// A replay after an upgrade must match the record its first attempt left.
func TestFingerprintStable(t *testing.T) {
	u := User{ID: uuid.New(), Name: "Ada Lovelace", Email: "ada@example.com", CreatedAt: time.Now()}
	const want = "sha256 of Ada Lovelace\x00ada@example.com"
	sum := sha256.Sum256([]byte("Ada Lovelace\x00ada@example.com"))
	if got := fingerprint(u); got != hex.EncodeToString(sum[:]) {
		t.Errorf("got fingerprint %s, want the %s, %x", got, want, sum)
	}
	if fingerprint(u) == fingerprint(User{Name: "Ada Lovelace", Email: "ada@example.co"}) {
		t.Errorf("two inputs share a fingerprint")
	}
}
