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

	if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, u).(*uuidEncodePlan); !ok {
		t.Error("encode plan for uuid.UUID: not the binary one")
	}
	for _, value := range []any{u, &u} {
		got, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, value, nil)
		if err != nil || !bytes.Equal(got, u[:]) {
			t.Errorf("encode %T: got %x, %v; want %x", value, got, err, u[:])
		}
		text, err := m.Encode(pgtype.UUIDOID, pgtype.TextFormatCode, value, nil)
		if err != nil || string(text) != u.String() {
			t.Errorf("encode %T as text: got %q, %v; want %q", value, text, err, u.String())
		}
	}

	var got uuid.UUID
	if _, ok := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &got).(scanUUIDBinary); !ok {
		t.Error("scan plan for *uuid.UUID: not the binary one")
	}
	tests := []struct {
		name    string
		format  int16
		src     []byte
		wantErr bool
	}{
		{"binary", pgtype.BinaryFormatCode, u[:], false},
		{"text", pgtype.TextFormatCode, []byte(u.String()), false},
		{"binary NULL", pgtype.BinaryFormatCode, nil, true},
		{"binary, short", pgtype.BinaryFormatCode, u[:15], true},
	}
	for _, tt := range tests {
		got = uuid.UUID{}
		err := m.Scan(pgtype.UUIDOID, tt.format, tt.src, &got)
		switch {
		case tt.wantErr && err == nil:
			t.Errorf("scan %s: got %s and no error, want an error", tt.name, got)
		case !tt.wantErr && (err != nil || got != u):
			t.Errorf("scan %s: got %s, %v; want %s", tt.name, got, err, u)
		}
	}
	var nullable *uuid.UUID
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, nil, &nullable); err != nil || nullable != nil {
		t.Errorf("scan NULL into **uuid.UUID: got %v, %v; want nil, nil", nullable, err)
	}
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, u[:], &nullable); err != nil || nullable == nil || *nullable != u {
		t.Errorf("scan into **uuid.UUID: got %v, %v; want %s", nullable, err, u)
	}
}
