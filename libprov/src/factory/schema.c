/* schema.c - the factory database's schema and its migrations, as data
 * (db_engine.h; the tables: docs/database.md).
 *
 * Written once for every engine: portable statements use {blob} {int} {id}
 * {seq} where SQLite and PostgreSQL spell a type differently, and the engine
 * maps them (SQLite: BLOB, INTEGER, INTEGER PRIMARY KEY, INTEGER PRIMARY KEY
 * AUTOINCREMENT), so SQLite's expansion is, byte for byte, the text version 1
 * shipped with.  What cannot be written portably is marked with its engine:
 * the append-only and only-growing rules are SQLite triggers that RAISE; a
 * PostgreSQL engine adds its own (trigger functions) to the same step. */
#include <stddef.h>

#include "db_engine.h"

/* 0 -> 1: the first schema. */
static const prov_schema_stmt v1[] = {
	{PROV_DB_ANY,
	 "CREATE TABLE meta (\n"
	 "  key   TEXT PRIMARY KEY,\n"
	 "  value {blob} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE templates (\n"
	 "  digest     TEXT PRIMARY KEY,          -- SHA-256 of json || trust_der\n"
	 "  name       TEXT NOT NULL,\n"
	 "  json       TEXT NOT NULL,\n"
	 "  trust_der  {blob},                      -- the template's trust anchors, DER concatenated\n"
	 "  created_at {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE devices (\n"
	 "  id             TEXT PRIMARY KEY,\n"
	 "  template       TEXT NOT NULL REFERENCES templates(digest),\n"
	 "  generation     {int} NOT NULL DEFAULT 1,   -- grows with every --rotate\n"
	 "  bundle_counter {int} NOT NULL DEFAULT 0,   -- anti-rollback, only grows\n"
	 "  recipient_spki {blob},                         -- key secrets are encrypted to\n"
	 "  status         TEXT NOT NULL DEFAULT 'minted'\n"
	 "                 CHECK (status IN ('minted','bundled','installed')),\n"
	 "  created_at     {int} NOT NULL,\n"
	 "  updated_at     {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE device_keys (\n"
	 "  id             {id},\n"
	 "  device_id      TEXT NOT NULL REFERENCES devices(id),\n"
	 "  generation     {int} NOT NULL,\n"
	 "  key_type       TEXT NOT NULL,\n"
	 "  origin         TEXT NOT NULL CHECK (origin IN ('csr','pubkey','host')),\n"
	 "  spki           {blob} NOT NULL,\n"
	 "  private_sealed {blob},                         -- host-made keys only, sealed\n"
	 "  created_at     {int} NOT NULL,\n"
	 "  UNIQUE (device_id, generation)\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE certificates (\n"
	 "  id          {id},\n"
	 "  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	 "  generation  {int} NOT NULL,\n"
	 "  slot        {int} NOT NULL,\n"
	 "  serial      TEXT NOT NULL UNIQUE,            -- lower-case hex\n"
	 "  subject     TEXT NOT NULL,\n"
	 "  not_before  TEXT NOT NULL,\n"
	 "  not_after   TEXT NOT NULL,\n"
	 "  der         {blob} NOT NULL,\n"
	 "  created_at  {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE psks (\n"
	 "  id          {id},\n"
	 "  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	 "  generation  {int} NOT NULL,\n"
	 "  slot        {int} NOT NULL,\n"
	 "  identity    {blob} NOT NULL,\n"
	 "  bits        {int} NOT NULL,\n"
	 "  key_sealed  {blob} NOT NULL,\n"
	 "  created_at  {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE raw_keys (\n"
	 "  id          {id},\n"
	 "  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	 "  generation  {int} NOT NULL,\n"
	 "  slot        {int} NOT NULL,\n"
	 "  own_spki    {blob} NOT NULL,\n"
	 "  peer_spki   {blob},\n"
	 "  created_at  {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE bundles (\n"
	 "  id          {id},\n"
	 "  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	 "  counter     {int} NOT NULL,\n"
	 "  generation  {int} NOT NULL,\n"
	 "  nonce       {blob},\n"
	 "  sha256      TEXT NOT NULL,\n"
	 "  size        {int} NOT NULL,\n"
	 "  data        {blob} NOT NULL,                   -- the bundle (its secrets are encrypted)\n"
	 "  created_at  {int} NOT NULL,\n"
	 "  UNIQUE (device_id, counter)\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE installs (\n"
	 "  id              {id},\n"
	 "  device_id       TEXT NOT NULL REFERENCES devices(id),\n"
	 "  counter         {int} NOT NULL,\n"
	 "  manifest_digest {blob},\n"
	 "  receipt         {blob},\n"
	 "  installed_at    {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY,
	 "CREATE TABLE audit (\n"
	 "  seq       {seq},\n"
	 "  at        {int} NOT NULL,\n"
	 "  action    TEXT NOT NULL,\n"
	 "  device_id TEXT,\n"
	 "  detail    TEXT\n"
	 ")"},
	{PROV_DB_ANY, "CREATE INDEX certificates_device ON certificates(device_id, generation)"},
	{PROV_DB_ANY, "CREATE INDEX psks_device ON psks(device_id, generation)"},
	{PROV_DB_ANY, "CREATE INDEX raw_keys_device ON raw_keys(device_id, generation)"},
	{PROV_DB_ANY, "CREATE INDEX audit_device ON audit(device_id)"},
	/* SQLite-specific: triggers that RAISE (PostgreSQL: trigger functions). */
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
	 "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"},
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
	 "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"},
	/* SQLite-specific: INSERT OR REPLACE deletes without firing DELETE
	 * triggers: refuse it here. */
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit\n"
	 "  WHEN NEW.seq IS NOT NULL AND EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)\n"
	 "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"},
	/* SQLite-specific: INSERT OR REPLACE of a device would reset its counter. */
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER devices_no_replace BEFORE INSERT ON devices\n"
	 "  WHEN EXISTS (SELECT 1 FROM devices WHERE id = NEW.id)\n"
	 "  BEGIN SELECT RAISE(ABORT, 'device exists: its bundle counter only grows'); END"},
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER bundle_counter_grows BEFORE UPDATE OF bundle_counter ON devices\n"
	 "  WHEN NEW.bundle_counter <= OLD.bundle_counter\n"
	 "  BEGIN SELECT RAISE(ABORT, 'bundle counter only grows'); END"},
	/* PostgreSQL-specific: the same rules as trigger functions that raise an
	 * integrity violation (SQLSTATE 23000: PROV_E_EXISTS, like SQLite's
	 * constraint).  INSERT ... ON CONFLICT never replaces a row here, so no
	 * replace rules are needed; TRUNCATE is refused as well. */
	{PROV_DB_POSTGRESQL,
	 "CREATE FUNCTION provkit_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	 "BEGIN\n"
	 "  RAISE EXCEPTION 'audit log is append-only' USING ERRCODE = 'integrity_constraint_violation';\n"
	 "END $$"},
	{PROV_DB_POSTGRESQL,
	 "CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit\n"
	 "  FOR EACH ROW EXECUTE FUNCTION provkit_audit_append_only()"},
	{PROV_DB_POSTGRESQL,
	 "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit\n"
	 "  FOR EACH STATEMENT EXECUTE FUNCTION provkit_audit_append_only()"},
	{PROV_DB_POSTGRESQL,
	 "CREATE FUNCTION provkit_counter_grows() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	 "BEGIN\n"
	 "  IF NEW.bundle_counter <= OLD.bundle_counter THEN\n"
	 "    RAISE EXCEPTION 'bundle counter only grows' USING ERRCODE = 'integrity_constraint_violation';\n"
	 "  END IF;\n"
	 "  RETURN NEW;\n"
	 "END $$"},
	{PROV_DB_POSTGRESQL,
	 "CREATE TRIGGER bundle_counter_grows BEFORE UPDATE OF bundle_counter ON devices\n"
	 "  FOR EACH ROW EXECUTE FUNCTION provkit_counter_grows()"},
};

/* 1 -> 2: stations (issue 14).  Every audit row names the station that wrote
 * it; the rows of a factory from before stations were all written by its one
 * station, "main", which is registered when there are any. */
static const prov_schema_stmt v2[] = {
	{PROV_DB_ANY,
	 "CREATE TABLE stations (\n"
	 "  name       TEXT PRIMARY KEY,\n"
	 "  created_at {int} NOT NULL,\n"
	 "  detail     TEXT\n"
	 ")"},
	{PROV_DB_ANY, "ALTER TABLE audit ADD COLUMN station TEXT NOT NULL DEFAULT 'main'"},
	{PROV_DB_ANY,
	 "INSERT INTO stations (name, created_at) SELECT 'main', MIN(at) FROM audit HAVING COUNT(*) > 0"},
	{PROV_DB_ANY, "CREATE INDEX audit_station ON audit(station, action)"},
};

/* 2 -> 3: revocation (prov revoke, prov crl; docs/database.md; issue 15). */
static const prov_schema_stmt v3[] = {
	{PROV_DB_ANY,
	 "CREATE TABLE revocations (\n"
	 "  id          {id},\n"
	 "  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	 "  generation  {int} NOT NULL,                   -- the generation revoked\n"
	 "  serial      TEXT,                            -- its certificate (lower-case hex); NULL: it had none\n"
	 "  reason      TEXT NOT NULL,                   -- RFC 5280 CRLReason name\n"
	 "  revoked_at  {int} NOT NULL\n"
	 ")"},
	{PROV_DB_ANY, "CREATE INDEX revocations_device ON revocations(device_id, generation)"},
	{PROV_DB_ANY,
	 "CREATE TABLE crls (\n"
	 "  crl_number  {int} NOT NULL UNIQUE,           -- cRLNumber (RFC 5280 5.2.3): only grows\n"
	 "  this_update {int} NOT NULL,\n"
	 "  next_update {int} NOT NULL,\n"
	 "  entries     {int} NOT NULL,\n"
	 "  sha256      TEXT NOT NULL,                   -- of the DER\n"
	 "  created_at  {int} NOT NULL\n"
	 ")"},
	/* SQLite-specific: a revocation is final, and a CRL number never repeats
	 * or goes back (PostgreSQL: trigger functions). */
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER revocations_no_update BEFORE UPDATE ON revocations\n"
	 "  BEGIN SELECT RAISE(ABORT, 'a revocation is final'); END"},
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER revocations_no_delete BEFORE DELETE ON revocations\n"
	 "  BEGIN SELECT RAISE(ABORT, 'a revocation is final'); END"},
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER crl_number_grows BEFORE INSERT ON crls\n"
	 "  WHEN NEW.crl_number <= (SELECT MAX(crl_number) FROM crls)\n"
	 "  BEGIN SELECT RAISE(ABORT, 'CRL number only grows'); END"},
	{PROV_DB_SQLITE,
	 "CREATE TRIGGER crls_no_update BEFORE UPDATE ON crls\n"
	 "  BEGIN SELECT RAISE(ABORT, 'issued CRLs are history'); END"},	/* PostgreSQL: the same rules as trigger functions (SQLSTATE 23000, as v1's) */
	{PROV_DB_POSTGRESQL,
	 "CREATE FUNCTION provkit_revocation_final() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	 "BEGIN\n"
	 "  RAISE EXCEPTION 'a revocation is final' USING ERRCODE = 'integrity_constraint_violation';\n"
	 "END $$"},
	{PROV_DB_POSTGRESQL,
	 "CREATE TRIGGER revocations_final BEFORE UPDATE OR DELETE ON revocations\n"
	 "  FOR EACH ROW EXECUTE FUNCTION provkit_revocation_final()"},
	{PROV_DB_POSTGRESQL,
	 "CREATE TRIGGER revocations_no_truncate BEFORE TRUNCATE ON revocations\n"
	 "  FOR EACH STATEMENT EXECUTE FUNCTION provkit_revocation_final()"},
	{PROV_DB_POSTGRESQL,
	 "CREATE FUNCTION provkit_crl_history() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	 "BEGIN\n"
	 "  IF TG_OP = 'INSERT' THEN\n"
	 "    IF NEW.crl_number <= (SELECT MAX(crl_number) FROM crls) THEN\n"
	 "      RAISE EXCEPTION 'CRL number only grows' USING ERRCODE = 'integrity_constraint_violation';\n"
	 "    END IF;\n"
	 "    RETURN NEW;\n"
	 "  END IF;\n"
	 "  RAISE EXCEPTION 'issued CRLs are history' USING ERRCODE = 'integrity_constraint_violation';\n"
	 "END $$"},
	{PROV_DB_POSTGRESQL,
	 "CREATE TRIGGER crls_history BEFORE INSERT OR UPDATE OR DELETE ON crls\n"
	 "  FOR EACH ROW EXECUTE FUNCTION provkit_crl_history()"},
};

const prov_schema_step prov_schema_steps[] = {
	{v1, sizeof(v1) / sizeof(v1[0])},
	{v2, sizeof(v2) / sizeof(v2[0])},
	{v3, sizeof(v3) / sizeof(v3[0])},
};

const size_t prov_schema_n_steps = sizeof(prov_schema_steps) / sizeof(prov_schema_steps[0]);

_Static_assert(sizeof(prov_schema_steps) / sizeof(prov_schema_steps[0]) == PROV_DB_SCHEMA_VERSION,
               "PROV_DB_SCHEMA_VERSION (db_engine.h) is the number of migration steps");

/* PostgreSQL keeps the schema version in a one-row table (the engine's, not
 * the factory's: db_pg.c). */
const char prov_schema_pg_has_version[] = "SELECT to_regclass('provkit_schema') IS NOT NULL";
const char prov_schema_pg_version[] = "SELECT max(version) FROM provkit_schema";
const char prov_schema_pg_set_version[] =
	"CREATE TABLE IF NOT EXISTS provkit_schema (version INTEGER NOT NULL);\n"
	"DELETE FROM provkit_schema;\n"
	"INSERT INTO provkit_schema (version) VALUES ";
/* Migrations one at a time across stations (held to the transaction's end). */
const char prov_schema_pg_migration_lock[] = "SELECT pg_advisory_xact_lock(1347570244)";
/* Tables in the database that are not provkit's, before it has a schema. */
const char prov_schema_pg_foreign_tables[] =
	"SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
	"AND to_regclass('provkit_schema') IS NULL";
