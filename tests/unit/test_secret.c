/*
 * test_secret.c - secrets at rest (prov/secret.h): AES-256-GCM sealing under the
 * KEK, and the scrypt KEK derivation.
 *
 * Round trips for every length 0..64, then tampering: a wrong AAD, a wrong KEK,
 * every single-bit flip of a sealed blob, every truncation and every bad version
 * byte must be rejected, and the plaintext buffer must not hold the plaintext
 * afterwards (GCM decrypts before it authenticates).  The blob layout of the
 * header (version || nonce || ciphertext || tag, AAD as given) is cross-checked
 * with OpenSSL's EVP interface directly.
 *
 * A KEK that opened the factory's check value ("checked") blames the blob, not
 * the KEK: a blob that fails to open is PROV_E_DB, named as the caller names
 * it (the vault names rows: test_vault.c) or by its AAD, outside bytes
 * escaped; unchecked it is PROV_E_AUTH.  The memory: the
 * secure heap is mlock'd and MADV_DONTDUMP (VmFlags lo and dd in
 * /proc/self/smaps), a home's KEK and passphrase live in it, and without
 * RLIMIT_MEMLOCK (and CAP_IPC_LOCK) it still works, unlocked (2).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "prov/home.h"
#include "prov/secret.h"
#include "prov/util.h"

#define MAXPT 64
#define SENTINEL 0xA5

static const char AAD[] = "psk|dev-1|1|2";

/* A plaintext with neither 0x00 nor SENTINEL bytes, so a leaked byte is visible. */
static void fill_pt(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t v = (uint8_t)(seed * 31 + i * 13 + 1);

		p[i] = v == 0 || v == SENTINEL ? 0x5a : v;
	}
}

/* After a rejected open: no byte of the plaintext buffer carries the plaintext
 * (each is still the sentinel or was wiped to zero). */
static int no_plaintext(const uint8_t *buf, const uint8_t *pt, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] == pt[i] || (buf[i] != 0 && buf[i] != SENTINEL))
			return 0;
	return 1;
}

static void test_round_trip(const prov_kek *k)
{
	uint8_t pt[MAXPT], sealed[MAXPT + PROV_SEAL_OVERHEAD], out[MAXPT + 1];
	int bad = 0;

	for (size_t len = 0; len <= MAXPT; len++) {
		size_t got = 999;
		prov_err e;
		prov_status st;

		fill_pt(pt, len, (unsigned)len);
		st = prov_seal(k, AAD, pt, len, sealed, &e);
		if (st != PROV_OK || sealed[0] != 1) {
			CHECK_MSG(0, "seal %zu bytes: %s", len, e.msg);
			bad++;
			continue;
		}
		memset(out, SENTINEL, sizeof(out));
		st = prov_open(k, AAD, sealed, len + PROV_SEAL_OVERHEAD, out, &got, &e);
		if (st != PROV_OK || got != len || memcmp(out, pt, len) != 0 || out[len] != SENTINEL) {
			CHECK_MSG(0, "open %zu bytes: status %d", len, st);
			bad++;
		}
	}
	CHECK_MSG(bad == 0, "%d of %d lengths failed the round trip", bad, MAXPT + 1);
}

/* OpenSSL directly: decrypt prov_seal's output per the documented layout, and
 * seal a blob that prov_open must accept. */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[12], const char *aad,
               const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, f = 0, ok;

	ok = c != NULL && EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), key, nonce, enc, NULL) &&
	     EVP_CipherUpdate(c, NULL, &l, (const uint8_t *)aad, (int)strlen(aad)) &&
	     EVP_CipherUpdate(c, out, &l, in, (int)n) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag)) &&
	     EVP_CipherFinal_ex(c, out + l, &f) > 0 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag));
	EVP_CIPHER_CTX_free(c);
	return ok;
}

static void test_layout(const prov_kek *k)
{
	uint8_t pt[40], sealed[40 + PROV_SEAL_OVERHEAD], out[40], blob[40 + PROV_SEAL_OVERHEAD];
	uint8_t tag[16];
	size_t got = 0;
	prov_err e;

	fill_pt(pt, sizeof(pt), 7);
	CHECK(prov_seal(k, AAD, pt, sizeof(pt), sealed, &e) == PROV_OK);
	CHECK(sealed[0] == 1);
	memcpy(tag, sealed + 1 + 12 + sizeof(pt), 16);
	CHECK_MSG(gcm(0, k->key, sealed + 1, AAD, sealed + 13, sizeof(pt), out, tag) &&
	          memcmp(out, pt, sizeof(pt)) == 0,
	          "OpenSSL cannot open prov_seal's blob as version||nonce||ct||tag");

	blob[0] = 1;
	CHECK(prov_random(blob + 1, 12, 0, NULL) == PROV_OK);
	CHECK(gcm(1, k->key, blob + 1, AAD, pt, sizeof(pt), blob + 13, tag));
	memcpy(blob + 13 + sizeof(pt), tag, 16);
	memset(out, 0, sizeof(out));
	CHECK(prov_open(k, AAD, blob, sizeof(blob), out, &got, &e) == PROV_OK);
	CHECK_EQ_HEX(out, got, pt, sizeof(pt));
}

/* One rejected open: not OK (exactly `want` unless want is PROV_OK, meaning any
 * failure), an error message, *pt_len untouched, no plaintext left in the buffer. */
static int rejected(const prov_kek *k, const char *aad, const uint8_t *blob, size_t n,
                    const uint8_t *pt, size_t pt_len, prov_status want)
{
	uint8_t out[MAXPT + 16];
	size_t got = 777;
	prov_err e;
	prov_status st;

	memset(out, SENTINEL, sizeof(out));
	memset(&e, 0, sizeof(e));
	st = prov_open(k, aad, blob, n, out, &got, &e);
	return st != PROV_OK && (want == PROV_OK || st == want) && e.code == st && e.msg[0] != 0 &&
	       got == 777 && no_plaintext(out, pt, pt_len);
}

static void test_tamper(const prov_kek *k, const prov_kek *other)
{
	uint8_t pt[32], sealed[32 + PROV_SEAL_OVERHEAD], copy[sizeof(sealed)];
	size_t n = sizeof(sealed);
	prov_err e;
	int flips = 0, flips_ok = 0, cuts = 0, cuts_ok = 0, vers = 0, vers_ok = 0;

	fill_pt(pt, sizeof(pt), 3);
	CHECK(prov_seal(k, AAD, pt, sizeof(pt), sealed, &e) == PROV_OK);

	/* Wrong AAD (another device, another slot, another generation, empty) and a
	 * wrong KEK: authentication failure, PROV_E_AUTH. */
	CHECK(rejected(k, "psk|dev-2|1|2", sealed, n, pt, sizeof(pt), PROV_E_AUTH));
	CHECK(rejected(k, "psk|dev-1|2|2", sealed, n, pt, sizeof(pt), PROV_E_AUTH));
	CHECK(rejected(k, "psk|dev-1|1|3", sealed, n, pt, sizeof(pt), PROV_E_AUTH));
	CHECK(rejected(k, "psk|dev-1|1|2 ", sealed, n, pt, sizeof(pt), PROV_E_AUTH));
	CHECK(rejected(k, "", sealed, n, pt, sizeof(pt), PROV_E_AUTH));
	CHECK(rejected(other, AAD, sealed, n, pt, sizeof(pt), PROV_E_AUTH));

	/* Every single-bit flip. */
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(copy, sealed, n);
			copy[i] ^= (uint8_t)(1u << b);
			flips++;
			if (rejected(k, AAD, copy, n, pt, sizeof(pt), PROV_OK))
				flips_ok++;
			else
				fprintf(stderr, "bit flip at byte %zu bit %d accepted or leaked\n", i, b);
		}
	CHECK_MSG(flips == (int)n * 8 && flips_ok == flips, "%d of %d bit flips rejected",
	          flips_ok, flips);

	/* Every truncation, down to nothing. */
	for (size_t len = 0; len < n; len++) {
		cuts++;
		if (rejected(k, AAD, sealed, len, pt, sizeof(pt), PROV_OK))
			cuts_ok++;
		else
			fprintf(stderr, "truncation to %zu bytes accepted or leaked\n", len);
	}
	CHECK_MSG(cuts_ok == cuts, "%d of %d truncations rejected", cuts_ok, cuts);

	/* Every version byte but 1. */
	for (int v = 0; v < 256; v++) {
		if (v == 1)
			continue;
		memcpy(copy, sealed, n);
		copy[0] = (uint8_t)v;
		vers++;
		if (rejected(k, AAD, copy, n, pt, sizeof(pt), PROV_OK))
			vers_ok++;
	}
	CHECK_MSG(vers_ok == vers, "%d of %d bad version bytes rejected", vers_ok, vers);

	/* A blob with data appended. */
	{
		uint8_t longer[sizeof(sealed) + 1];

		memcpy(longer, sealed, n);
		longer[n] = 0;
		CHECK(rejected(k, AAD, longer, n + 1, pt, sizeof(pt), PROV_OK));
	}
	/* The untouched blob still opens (the tampering worked on copies). */
	{
		uint8_t out[32];
		size_t got = 0;

		CHECK(prov_open(k, AAD, sealed, n, out, &got, &e) == PROV_OK && got == 32 &&
		      memcmp(out, pt, 32) == 0);
	}
	printf("secret: %d/%d bit flips, %d/%d truncations, %d/%d version bytes rejected\n",
	       flips_ok, flips, cuts_ok, cuts, vers_ok, vers);

	/* The empty secret: tag only, flips still caught. */
	{
		uint8_t s0[PROV_SEAL_OVERHEAD], c0[PROV_SEAL_OVERHEAD];
		int ok0 = 0;

		CHECK(prov_seal(k, AAD, pt, 0, s0, &e) == PROV_OK);
		for (size_t i = 0; i < sizeof(s0); i++)
			for (int b = 0; b < 8; b++) {
				memcpy(c0, s0, sizeof(s0));
				c0[i] ^= (uint8_t)(1u << b);
				ok0 += rejected(k, AAD, c0, sizeof(c0), pt, 0, PROV_OK);
			}
		CHECK_MSG(ok0 == (int)sizeof(s0) * 8, "empty secret: %d of %zu bit flips rejected",
		          ok0, sizeof(s0) * 8);
	}
}

static void test_nonce_fresh(const prov_kek *k)
{
	uint8_t pt[16], a[16 + PROV_SEAL_OVERHEAD], b[sizeof(a)];
	prov_err e;
	int same_nonce = 0, same_blob = 0;

	fill_pt(pt, sizeof(pt), 9);
	for (int i = 0; i < 64; i++) {
		CHECK(prov_seal(k, AAD, pt, sizeof(pt), a, &e) == PROV_OK);
		CHECK(prov_seal(k, AAD, pt, sizeof(pt), b, &e) == PROV_OK);
		same_nonce += memcmp(a + 1, b + 1, 12) == 0;
		same_blob += memcmp(a, b, sizeof(a)) == 0;
	}
	CHECK_MSG(same_nonce == 0 && same_blob == 0, "sealing twice repeated a nonce %d times",
	          same_nonce);
}

static void test_kek_derive(void)
{
	static const uint8_t salt1[16] = "0123456789abcdef", salt2[16] = "0123456789abcdeg";
	prov_kek a, b, c, d;
	prov_err e;
	uint8_t zero[PROV_KEK_LEN] = {0};

	CHECK(prov_kek_derive("correct horse", salt1, sizeof(salt1), &a, &e) == PROV_OK);
	CHECK(prov_kek_derive("correct horse", salt1, sizeof(salt1), &b, &e) == PROV_OK);
	CHECK(prov_kek_derive("correct horse", salt2, sizeof(salt2), &c, &e) == PROV_OK);
	CHECK(prov_kek_derive("correct horsf", salt1, sizeof(salt1), &d, &e) == PROV_OK);
	CHECK_MSG(memcmp(a.key, b.key, PROV_KEK_LEN) == 0, "scrypt not deterministic");
	CHECK_MSG(memcmp(a.key, c.key, PROV_KEK_LEN) != 0, "another salt gave the same KEK");
	CHECK_MSG(memcmp(a.key, d.key, PROV_KEK_LEN) != 0, "another passphrase gave the same KEK");
	CHECK(memcmp(a.key, zero, PROV_KEK_LEN) != 0);

	/* Independent check of the parameters (scrypt N=2^15, r=8, p=1, 32 bytes). */
	{
		uint8_t want[PROV_KEK_LEN];

		CHECK(EVP_PBE_scrypt("correct horse", 13, salt1, sizeof(salt1), 1u << 15, 8, 1,
		                     64u << 20, want, sizeof(want)) == 1);
		CHECK_EQ_HEX(a.key, PROV_KEK_LEN, want, sizeof(want));
	}

	/* A blob sealed under one derived KEK opens only under the same derivation. */
	{
		uint8_t pt[8] = "secret!", s[8 + PROV_SEAL_OVERHEAD], out[8];
		size_t got = 0;

		CHECK(prov_seal(&a, AAD, pt, sizeof(pt), s, &e) == PROV_OK);
		CHECK(prov_open(&b, AAD, s, sizeof(s), out, &got, &e) == PROV_OK && got == 8 &&
		      memcmp(out, pt, 8) == 0);
		CHECK(prov_open(&c, AAD, s, sizeof(s), out, &got, &e) == PROV_E_AUTH);
	}

	prov_kek_wipe(&a);
	CHECK(memcmp(a.key, zero, PROV_KEK_LEN) == 0);
	prov_kek_wipe(&b);
	prov_kek_wipe(&c);
	prov_kek_wipe(&d);
}

/* A checked KEK says which blob is damaged; an unchecked one blames the KEK.
 * The row names (device, generation, slot) are the vault's: test_vault.c. */
static void test_damaged_row(const prov_kek *k)
{
	static const char *const aads[][3] = {
		{"psk|dev-1|3|7", NULL, "sealed secret \"psk|dev-1|3|7\" is damaged: "},
		{"\x1b]0;x\x07\n", NULL, "sealed secret \"\\x1b]0;x\\x07\\n\" is damaged: "},
		{"other", NULL, "sealed secret \"other\" is damaged: "},
		{"other", "the thing of \"d\"", "the thing of \"d\" is damaged: "},
	};
	prov_kek checked = *k, unchecked = *k;
	uint8_t pt[16], blob[16 + PROV_SEAL_OVERHEAD], out[16];
	size_t got = 0;
	prov_err e;

	checked.checked = 1;
	unchecked.checked = 0;
	fill_pt(pt, sizeof(pt), 5);
	for (size_t i = 0; i < sizeof(aads) / sizeof(aads[0]); i++) {
		int printable = 1;

		CHECK(prov_seal(k, aads[i][0], pt, sizeof(pt), blob, &e) == PROV_OK);
		/* It opens either way while intact. */
		CHECK(prov_open_named(&checked, aads[i][0], aads[i][1], blob, sizeof(blob), out, &got, &e) == PROV_OK);
		blob[20] ^= 0x40;
		memset(&e, 0, sizeof(e));
		CHECK(prov_open_named(&checked, aads[i][0], aads[i][1], blob, sizeof(blob), out, &got, &e) == PROV_E_DB);
		CHECK_MSG(strncmp(e.msg, aads[i][2], strlen(aads[i][2])) == 0, "message: %s", e.msg);
		CHECK_MSG(strstr(e.msg, "does not open under this factory's key-encryption key") != NULL,
		          "message: %s", e.msg);
		for (const char *m = e.msg; *m; m++)
			printable &= (unsigned char)*m >= 0x20 && (unsigned char)*m < 0x7f;
		CHECK_MSG(printable, "message with raw bytes: %s", e.msg);
		memset(&e, 0, sizeof(e));
		CHECK(prov_open_named(&unchecked, aads[i][0], aads[i][1], blob, sizeof(blob), out, &got, &e) ==
		      PROV_E_AUTH);
		CHECK_MSG(strstr(e.msg, "wrong key-encryption key or passphrase") != NULL, "message: %s",
		          e.msg);
	}
	/* Malformed blobs are damaged whatever the KEK. */
	CHECK(prov_open(&unchecked, "psk|d|1|2", blob, PROV_SEAL_OVERHEAD - 1, out, &got, &e) == PROV_E_DB);
	CHECK_MSG(strstr(e.msg, "sealed secret \"psk|d|1|2\" is damaged: its sealed "
	                        "value is malformed (28 bytes") != NULL, "message: %s", e.msg);
	blob[0] = 7;
	CHECK(prov_open(&checked, "key|d|1", blob, sizeof(blob), out, &got, &e) == PROV_E_DB);
	CHECK_MSG(strstr(e.msg, "malformed (version 7, not 1)") != NULL, "message: %s", e.msg);
	/* A new KEK is unchecked; wiping forgets the check. */
	CHECK(prov_kek_derive("pw", (const uint8_t *)"salt", 4, &checked, &e) == PROV_OK);
	CHECK(checked.checked == 0);
	checked.checked = 1;
	prov_kek_wipe(&checked);
	CHECK(checked.checked == 0);
	prov_kek_wipe(&unchecked);
}

/* The VmFlags line of the mapping holding p, from /proc/self/smaps. */
static int vmflags_of(const void *p, char *flags, size_t cap)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, found = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (unsigned long)p >= lo && (unsigned long)p < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, cap, "%s", line + 8);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static int has_flag(const char *flags, const char *f)
{
	char pad[512];

	snprintf(pad, sizeof(pad), " %s", flags);
	for (char *p = pad; (p = strstr(p, f)) != NULL; p++)
		if (p[-1] == ' ' && (p[2] == ' ' || p[2] == '\n' || p[2] == 0))
			return 1;
	return 0;
}

/* Without locked memory allowed, the heap is still used, unlocked (2).  In a
 * child: setrlimit(RLIMIT_MEMLOCK, 0), and as root also another uid, which drops
 * CAP_IPC_LOCK.  Runs before the parent touches the secure heap. */
static void test_heap_unlockable(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		struct rlimit rl = {0, 0};
		void *p;
		int r;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || (geteuid() == 0 && setuid(65534) != 0))
			_exit(10);
		r = prov_secure_heap_init();
		p = OPENSSL_secure_malloc(64);
		if (r != 2)
			_exit(20 + r);
		if (p == NULL || !CRYPTO_secure_allocated(p))
			_exit(30);
		OPENSSL_secure_clear_free(p, 64);
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", WEXITSTATUS(st));
}

static void test_secure_heap(void)
{
	char flags[512] = "", dir[] = "/tmp/prov-test-secret-XXXXXX", home[64];
	prov_init_opts o;
	prov_home *h = NULL;
	prov_err e;
	void *p;
	int r = prov_secure_heap_init();

	CHECK_MSG(r == 1, "secure heap: %d (1: locked)", r);
	CHECK(prov_secure_heap_init() == r);
	CHECK(CRYPTO_secure_malloc_initialized() == 1);
	p = OPENSSL_secure_malloc(32);
	CHECK(p != NULL && CRYPTO_secure_allocated(p));
	CHECK_MSG(vmflags_of(p, flags, sizeof(flags)) && has_flag(flags, "lo") && has_flag(flags, "dd"),
	          "secure heap VmFlags:%s(want lo and dd)", flags);
	OPENSSL_secure_clear_free(p, 32);

	/* A home's KEK and passphrase are in it. */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(home, sizeof(home), "%s/f", dir);
	memset(&o, 0, sizeof(o));
	o.dir = home;
	o.key_type = PROV_KEY_P256;
	o.passphrase = "";
	CHECK(prov_home_init(&o, &e) == PROV_E_USAGE);
	CHECK_MSG(strstr(e.msg, "PROV_PASSPHRASE is set but empty") != NULL, "message: %s", e.msg);
	o.passphrase = "correct horse";
	CHECK(prov_home_init(&o, &e) == PROV_OK);
	setenv("PROV_PASSPHRASE", "", 1);
	CHECK(prov_home_open(home, PROV_NEED_KEK, 1000, &h, &e) == PROV_E_USAGE && h == NULL);
	setenv("PROV_PASSPHRASE", "correct horse", 1);
	CHECK(prov_home_open(home, PROV_NEED_KEK, 1000, &h, &e) == PROV_OK);
	if (h != NULL) {
		CHECK(CRYPTO_secure_allocated(h) && CRYPTO_secure_allocated(&h->kek));
		CHECK(h->passphrase != NULL && CRYPTO_secure_allocated(h->passphrase));
		CHECK(h->have_kek && h->kek.checked);
		CHECK(vmflags_of(&h->kek, flags, sizeof(flags)) && has_flag(flags, "lo") && has_flag(flags, "dd"));
	}
	prov_home_close(h);
	unsetenv("PROV_PASSPHRASE");
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK(system(cmd) == 0);
	}
}

int main(void)
{
	prov_kek k, other;

	test_heap_unlockable();
	test_secure_heap();
	memset(&k, 0, sizeof(k));
	memset(&other, 0, sizeof(other));
	CHECK(prov_random(k.key, sizeof(k.key), 1, NULL) == PROV_OK);
	memcpy(other.key, k.key, sizeof(k.key));
	other.key[31] ^= 1; /* a KEK one bit away */

	test_round_trip(&k);
	test_layout(&k);
	test_tamper(&k, &other);
	test_nonce_fresh(&k);
	test_kek_derive();
	test_damaged_row(&k);
	prov_kek_wipe(&k);
	prov_kek_wipe(&other);
	return check_done("test_secret");
}
