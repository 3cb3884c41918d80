package server

import (
	"context"
	"strings"
	"testing"
)

func TestReadStaticKeys(t *testing.T) {
	keys, err := ReadStaticKeys(strings.NewReader("# keys\ncam-3 AKCAM3 secret-cam-3\n\n  ci AKCI secret-ci  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != (StaticKey{"cam-3", "AKCAM3", "secret-cam-3"}) || keys[1] != (StaticKey{"ci", "AKCI", "secret-ci"}) {
		t.Fatalf("keys = %+v", keys)
	}
	_, err = ReadStaticKeys(strings.NewReader("cam-3 AKCAM3 secret-cam-3\ncam-4 only-two\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "secret-cam") || strings.Contains(err.Error(), "only-two") {
		t.Fatalf("err = %v, want it to name line 2 and no secret", err)
	}
}

func TestStaticMinterHandsEachPrincipalItsKey(t *testing.T) {
	m, err := NewStaticMinter([]StaticKey{{"cam-3", "AKCAM3", "S3"}, {"ci", "AKCI", "SCI"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"cam-3", "ci"} {
		ctx := context.WithValue(context.Background(), principalKey{}, Principal{Name: p, Role: RoleUploader})
		c, err := m.Mint(ctx, "s1", []string{"uploads/s1/u1/a.mp4"})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Static() || c.SessionToken != "" || c.AccessKeyID != m.keys[p].AccessKeyID {
			t.Errorf("%s: credentials %+v, want its static key", p, c)
		}
	}
	ctx := context.WithValue(context.Background(), principalKey{}, Principal{Name: "other", Role: RoleUploader})
	if _, err := m.Mint(ctx, "s1", nil); err == nil {
		t.Error("a principal without a key got one")
	}
	for _, bad := range [][]StaticKey{nil, {{"", "A", "S"}}, {{"p", "", "S"}}, {{"p", "A", "S"}, {"p", "B", "T"}}} {
		if _, err := NewStaticMinter(bad); err == nil {
			t.Errorf("NewStaticMinter(%v) accepted it", bad)
		}
	}
}
