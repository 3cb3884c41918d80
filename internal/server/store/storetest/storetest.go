// Package storetest gives tests the PostgreSQL that scripts/postgres.sh
// started (through `make test`): a fresh database per test.
//
// A test that needs PostgreSQL skips, saying why, when none is configured;
// with VIDUP_REQUIRE_S3=1 (make test, CI: the full test environment is
// required) it fails instead.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the variable that holds the URL of the test server.
const PostgresEnv = "VIDUP_TEST_POSTGRES_URL"

// PostgresURL creates a database of the test's own on the configured
// server and returns its URL; the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := strings.TrimSpace(os.Getenv(PostgresEnv))
	if base == "" {
		msg := "no PostgreSQL for this test: " + PostgresEnv + " is not set (run `make test`, " +
			"or eval \"$(scripts/postgres.sh start)\" and run go test again)"
		if os.Getenv("VIDUP_REQUIRE_S3") == "1" {
			t.Fatal(msg + "; VIDUP_REQUIRE_S3=1 requires it")
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL of %s does not answer: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "vidup_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s does not parse as a URL", PostgresEnv)
	}
	u.Path = "/" + name
	return u.String()
}
