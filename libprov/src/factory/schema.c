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
};

/* Revocation (prov revoke, prov crl; docs/database.md).  A step of its own:
 * nothing here depends on another step after v1. */
static const prov_schema_stmt v_revocation[] = {
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
	 "  BEGIN SELECT RAISE(ABORT, 'issued CRLs are history'); END"},
};

const prov_schema_step prov_schema_steps[] = {
	{v1, sizeof(v1) / sizeof(v1[0])},
	{v_revocation, sizeof(v_revocation) / sizeof(v_revocation[0])},
};

const size_t prov_schema_n_steps = sizeof(prov_schema_steps) / sizeof(prov_schema_steps[0]);

_Static_assert(sizeof(prov_schema_steps) / sizeof(prov_schema_steps[0]) == PROV_DB_SCHEMA_VERSION,
               "PROV_DB_SCHEMA_VERSION (prov/db.h) is the number of migration steps");
