/* trust_build.c - prov trust build: read roots, clean them up, choose the ones a
 * device needs, and write them (see prov/trust.h, docs/trust.md). */
#include "prov/trust.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "prov/util.h"
#include "prov/x509.h"

#define INPUT_FILE_MAX (64u * 1024 * 1024)
#define CHAIN_DEPTH_MAX 8   /* served certificates on one path, leaf excluded */

/* Why a certificate is not written: its key has no anchor form, it may not be
 * an anchor (c->refusal, prov_trust_ca_check), it repeats a kept one, it expired. */
enum drop_reason { KEEP = 0, DROP_UNSUPPORTED, DROP_REFUSED, DROP_DUPLICATE, DROP_EXPIRED };

typedef struct cand {
	X509 *x;
	const char *source;
	uint8_t fp[32];
	char fp_hex[65];
	char *subject;            /* RFC 2253 text */
	const unsigned char *subj_der;
	size_t subj_len;
	uint8_t *spki;
	size_t spki_len;
	prov_trust_anchor a;
	int anchor_ok;
	char why[sizeof(((prov_err *)0)->msg)]; /* why there is no anchor, or why it may not be one */
	prov_trust_refusal refusal;
	int drop;
	int rep;                  /* the kept certificate of its (name, key) group */
	int relevant;             /* the mode touched it: report its fate */
	int selected;
	uint64_t covers;          /* chains it validates (chain mode) */
	json_t *paths;            /* per chain: the served path it anchors, or NULL */
	size_t cost;
	char *pem;
	size_t pem_len;
} cand;

typedef struct build {
	const prov_trust_build_opts *o;
	cand *c;
	size_t n, cap;
	json_t *inputs, *dropped, *notes, *report, *pins_json;
	char **paths;             /* file names certificates came from */
	size_t n_paths;
	uint8_t *pins;            /* n_pins * PROV_TRUST_PIN_LEN */
	size_t n_pins;
} build;

int prov_trust_format_parse(const char *s)
{
	static const char *const names[] = {"store", "der", "pem", "c"};

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

const char *prov_trust_format_name(prov_trust_format f)
{
	static const char *const names[] = {"store", "der", "pem", "c"};

	return (unsigned)f < 4 ? names[f] : "unknown";
}

static void note(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(build *b, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(b->notes, json_string(buf));
}

/* ---- names as text ---- */

/* A Name as one line of text that is safe on a terminal: RFC 2253 (OpenSSL
 * escapes C0 controls there), else, when the name is not valid in its string
 * type, every byte outside ASCII escaped; then any control byte left (DEL, the
 * C1 controls U+0080..U+009F in UTF-8) as \xNN.  malloc'd; NULL when out of memory. */
static char *name_text(const X509_NAME *nm)
{
	char *raw = prov_x509_name_text(nm), *out;
	size_t n, k = 0;

	if (raw == NULL) {
		BIO *m = BIO_new(BIO_s_mem());
		char *p = NULL;
		long l;

		if (m != NULL && X509_NAME_print_ex(m, nm, 0, (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_UTF8_CONVERT) |
		                                                 ASN1_STRFLGS_ESC_MSB) >= 0 &&
		    (l = BIO_get_mem_data(m, &p)) >= 0 && (raw = malloc((size_t)l + 1)) != NULL) {
			memcpy(raw, p, (size_t)l);
			raw[l] = 0;
		}
		BIO_free(m);
		ERR_clear_error();
		if (raw == NULL)
			return NULL;
	}
	n = strlen(raw);
	out = malloc(4 * n + 1);
	for (size_t i = 0; out != NULL && i < n; i++) {
		unsigned char ch = (unsigned char)raw[i];
		int c1 = ch == 0xc2 && i + 1 < n && (unsigned char)raw[i + 1] >= 0x80 && (unsigned char)raw[i + 1] <= 0x9f;

		if (ch < 0x20 || ch == 0x7f || c1) {
			k += (size_t)sprintf(out + k, "\\x%02x", ch);
			if (c1)
				k += (size_t)sprintf(out + k, "\\x%02x", (unsigned char)raw[++i]);
		} else {
			out[k++] = (char)ch;
		}
	}
	if (out != NULL)
		out[k] = 0;
	free(raw);
	return out;
}

/* ---- reading certificates ---- */

static const char *keep_path(build *b, const char *path)
{
	char **np = realloc(b->paths, (b->n_paths + 1) * sizeof(*np));

	if (np == NULL)
		return NULL;
	b->paths = np;
	np[b->n_paths] = strdup(path);
	return np[b->n_paths] != NULL ? np[b->n_paths++] : NULL;
}

static prov_status add_cert(build *b, X509 *x, const char *src, prov_err *e)
{
	cand *c;
	unsigned int mdl = 0;
	int l;
	prov_err ae;

	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 64;
		cand *p = realloc(b->c, nc * sizeof(*p));

		if (p == NULL) {
			X509_free(x);
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		}
		b->c = p;
		b->cap = nc;
	}
	c = &b->c[b->n++];
	memset(c, 0, sizeof(*c));
	c->x = x;
	c->source = src;
	c->rep = (int)(b->n - 1);
	X509_digest(x, EVP_sha256(), c->fp, &mdl);
	prov_hex(c->fp, sizeof(c->fp), c->fp_hex);
	c->subject = name_text(X509_get_subject_name(x));
	X509_NAME_get0_der(X509_get_subject_name(x), &c->subj_der, &c->subj_len);
	l = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &c->spki);
	c->spki_len = l > 0 ? (size_t)l : 0;
	if (c->subject == NULL || l <= 0)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (prov_trust_anchor_from_cert(x, &c->a, &ae) == PROV_OK) {
		c->anchor_ok = 1;
		/* a key the device could hold; may the certificate sign servers? */
		c->refusal = prov_trust_ca_check(x, b->o->allow_v1, c->why, sizeof(c->why));
		if (c->refusal != PROV_TRUST_CA_OK)
			c->drop = DROP_REFUSED;
	} else {
		snprintf(c->why, sizeof(c->why), "%s", ae.msg);
		c->drop = DROP_UNSUPPORTED;
	}
	ERR_clear_error();
	return PROV_OK;
}

static int has_pem(const uint8_t *buf, size_t len)
{
	static const char mark[] = "-----BEGIN ";

	for (size_t i = 0; i + sizeof(mark) - 1 <= len; i++)
		if (buf[i] == '-' && memcmp(buf + i, mark, sizeof(mark) - 1) == 0)
			return 1;
	return 0;
}

/* The certificates of one buffer: PEM blocks (other block types are skipped),
 * else DER certificates back to back.  Returns the count, -1 with *e set. */
static int parse_certs(const uint8_t *buf, size_t len, const char *path, STACK_OF(X509) *out,
                       prov_err *e)
{
	int n = 0;

	if (len == 0) {
		prov_err_set(e, PROV_E_INPUT, "%s: empty file", path);
		return -1;
	}
	if (has_pem(buf, len)) {
		BIO *bio = BIO_new_mem_buf(buf, (int)len);
		char *name = NULL, *hdr = NULL;
		unsigned char *data = NULL;
		long dlen = 0;

		for (int blk = 1; bio != NULL; blk++) {
			if (!PEM_read_bio(bio, &name, &hdr, &data, &dlen)) {
				unsigned long err = ERR_peek_last_error();

				ERR_clear_error();
				if (ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
					prov_err_set(e, PROV_E_INPUT, "%s: PEM block %d is garbage (bad base64 or no END line)",
					             path, blk);
					n = -1;
				}
				break;
			}
			if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
			    strcmp(name, "TRUSTED CERTIFICATE") == 0) {
				const unsigned char *p = data;
				X509 *x = strcmp(name, "TRUSTED CERTIFICATE") == 0 ? d2i_X509_AUX(NULL, &p, dlen)
				                                                     : d2i_X509(NULL, &p, dlen);

				if (x == NULL || p != data + dlen) {
					X509_free(x);
					ERR_clear_error();
					prov_err_set(e, PROV_E_INPUT, "%s: PEM block %d is not a valid certificate", path, blk);
					n = -1;
				} else if (!sk_X509_push(out, x)) {
					X509_free(x);
					prov_err_set(e, PROV_E_INTERNAL, "out of memory");
					n = -1;
				} else {
					n++;
				}
			}
			OPENSSL_free(name);
			OPENSSL_free(hdr);
			OPENSSL_free(data);
			name = hdr = NULL;
			data = NULL;
			if (n < 0)
				break;
		}
		BIO_free(bio);
		if (n == 0) {
			prov_err_set(e, PROV_E_INPUT, "%s: no certificate in its PEM blocks", path);
			n = -1;
		}
		return n;
	}
	for (const uint8_t *p = buf; p < buf + len;) {
		const unsigned char *q = p;
		X509 *x = d2i_X509(NULL, &q, (long)(buf + len - p));

		if (x == NULL) {
			ERR_clear_error();
			prov_err_set(e, PROV_E_INPUT, "%s: not a certificate file (PEM, or DER at byte %zu)", path,
			             (size_t)(p - buf));
			return -1;
		}
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			return -1;
		}
		n++;
		p = q;
	}
	return n;
}

static prov_status load_file(const char *path, STACK_OF(X509) **out, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	prov_status st = prov_file_read(path, INPUT_FILE_MAX, &buf, &len, e);

	*out = NULL;
	if (st != PROV_OK)
		return st;
	*out = sk_X509_new_null();
	if (*out == NULL)
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	else if (parse_certs(buf, len, path, *out, e) < 0)
		st = e != NULL && e->code != PROV_OK ? e->code : PROV_E_INPUT;
	free(buf);
	if (st != PROV_OK) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	return st;
}

/* One --from file: every certificate is a candidate.  In a directory
 * (lenient), a file without certificates is skipped with a note. */
static prov_status add_file(build *b, const char *path, int lenient, prov_err *e)
{
	STACK_OF(X509) *sk = NULL;
	const char *src;
	prov_err fe;
	prov_status st = load_file(path, &sk, &fe);
	int n;

	if (st != PROV_OK) {
		if (lenient && (st == PROV_E_INPUT || st == PROV_E_IO)) {
			note(b, "skipped %s: %s", path, fe.msg);
			return PROV_OK;
		}
		if (e != NULL)
			*e = fe;
		return st;
	}
	n = sk_X509_num(sk);
	src = keep_path(b, path);
	st = src != NULL ? PROV_OK : prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	while (sk_X509_num(sk) > 0) {
		X509 *x = sk_X509_shift(sk);

		if (st == PROV_OK)
			st = add_cert(b, x, src, e);
		else
			X509_free(x);
	}
	sk_X509_free(sk);
	if (st == PROV_OK)
		json_array_append_new(b->inputs, json_pack("{s:s, s:i}", "file", path, "certificates", n));
	return st;
}

static int name_sort(const struct dirent **x, const struct dirent **y)
{
	return strcmp((*x)->d_name, (*y)->d_name);
}

static prov_status add_input(build *b, const char *path, prov_err *e)
{
	struct stat sb;
	struct dirent **ents = NULL;
	prov_status st = PROV_OK;
	int n;

	if (stat(path, &sb) != 0)
		return prov_err_set(e, errno == ENOENT ? PROV_E_NOTFOUND : PROV_E_IO, "cannot open %s: %s", path,
		                    strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return add_file(b, path, 0, e);
	n = scandir(path, &ents, NULL, name_sort);
	if (n < 0)
		return prov_err_set(e, PROV_E_IO, "cannot read directory %s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		size_t pl = strlen(path) + strlen(ents[i]->d_name) + 2;
		char *f = malloc(pl);

		if (st == PROV_OK && ents[i]->d_name[0] != '.') {
			if (f == NULL) {
				st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			} else {
				snprintf(f, pl, "%s/%s", path, ents[i]->d_name);
				/* regular files and links to them; subdirectories are not walked */
				if (stat(f, &sb) == 0 && S_ISREG(sb.st_mode))
					st = add_file(b, f, 1, e);
			}
		}
		free(f);
		free(ents[i]);
	}
	free(ents);
	return st;
}

/* ---- hygiene ---- */

static int expired(const cand *c, int64_t at)
{
	return !c->a.no_expiry && c->a.not_after < at;
}

/* Which of two certificates with the same name and key to keep: one that has
 * not expired, then the later notAfter, then the smaller fingerprint. */
static int better(const cand *x, const cand *y, int64_t at)
{
	if (expired(x, at) != expired(y, at))
		return !expired(x, at);
	if (x->a.no_expiry != y->a.no_expiry)
		return x->a.no_expiry;
	if (x->a.not_after != y->a.not_after)
		return x->a.not_after > y->a.not_after;
	return memcmp(x->fp, y->fp, sizeof(x->fp)) < 0;
}

static int same_root(const cand *c, const cand *d)
{
	return d->subj_len == c->subj_len && d->spki_len == c->spki_len &&
	       memcmp(d->subj_der, c->subj_der, c->subj_len) == 0 && memcmp(d->spki, c->spki, c->spki_len) == 0;
}

/* Duplicates (same subject Name bytes and same key) collapse to the best of
 * their group; then the survivors expired at --at are dropped. */
static void hygiene(build *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->c[i].rep = b->c[i].drop == KEEP ? -1 : (int)i;
	for (size_t i = 0; i < b->n; i++) {
		size_t best = i;

		if (b->c[i].rep != -1)
			continue;
		for (size_t j = i; j < b->n; j++)
			if (b->c[j].rep == -1 && same_root(&b->c[i], &b->c[j])) {
				b->c[j].rep = -2;
				if (better(&b->c[j], &b->c[best], b->o->at))
					best = j;
			}
		for (size_t j = i; j < b->n; j++)
			if (b->c[j].rep == -2) {
				b->c[j].rep = (int)best;
				b->c[j].drop = j == best ? KEEP : DROP_DUPLICATE;
			}
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->c[i].drop == KEEP && expired(&b->c[i], b->o->at))
			b->c[i].drop = DROP_EXPIRED;
}

static const char *drop_name(const cand *c)
{
	switch (c->drop) {
	case DROP_UNSUPPORTED: return "unsupported-key";
	case DROP_REFUSED: return prov_trust_refusal_name(c->refusal);
	case DROP_DUPLICATE: return "duplicate";
	case DROP_EXPIRED: return "expired";
	}
	return "kept";
}

/* Why c is not written, one line (into buf). */
static const char *drop_detail(const build *b, const cand *c, char *buf, size_t cap)
{
	char iso[32];

	if (c->drop == DROP_DUPLICATE)
		snprintf(buf, cap, "duplicate of %.16s... (same name and key)", b->c[c->rep].fp_hex);
	else if (c->drop == DROP_EXPIRED)
		snprintf(buf, cap, "expired %s", prov_time_iso(c->a.not_after, iso));
	else
		snprintf(buf, cap, "%s", c->why);
	return buf;
}

/* Every certificate the mode touched and did not keep, in "dropped": name
 * (safe text), fingerprint, reason (a code) and detail (one line). */
static void report_drops(build *b)
{
	char iso[32], detail[sizeof(((prov_err *)0)->msg) + 64];

	for (size_t i = 0; i < b->n; i++) {
		cand *c = &b->c[i];
		json_t *j;

		if (!c->relevant || c->drop == KEEP)
			continue;
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", c->subject, "subject", c->subject, "sha256",
		              c->fp_hex, "reason", drop_name(c), "detail", drop_detail(b, c, detail, sizeof(detail)),
		              "source", c->source);
		if (c->drop == DROP_DUPLICATE)
			json_object_set_new(j, "duplicate_of", json_string(b->c[c->rep].fp_hex));
		else if (c->drop == DROP_EXPIRED)
			json_object_set_new(j, "not_after", json_string(prov_time_iso(c->a.not_after, iso)));
		json_array_append_new(b->dropped, j);
	}
}

/* ---- selection ---- */

static int is_fingerprint(const char *s, uint8_t fp[32])
{
	char hex[65];
	size_t n = 0, got = 0;

	for (; *s != 0; s++) {
		if (*s == ':')
			continue;
		if (n == 64)
			return 0;
		hex[n++] = *s;
	}
	hex[n] = 0;
	return n == 64 && prov_unhex(hex, fp, 32, &got) == 0 && got == 32;
}

static int name_print_eq(X509_NAME *nm, unsigned long flags, const char *want)
{
	BIO *m = BIO_new(BIO_s_mem());
	char *p = NULL;
	long l;
	int eq = 0;

	if (m != NULL && X509_NAME_print_ex(m, nm, 0, flags) >= 0) {
		l = BIO_get_mem_data(m, &p);
		eq = l >= 0 && (size_t)l == strlen(want) && memcmp(p, want, (size_t)l) == 0;
	}
	BIO_free(m);
	return eq;
}

static int dn_matches(X509 *x, const char *sel)
{
	X509_NAME *nm = X509_get_subject_name(x);
	char *one;
	int eq;

	if (name_print_eq(nm, XN_FLAG_RFC2253, sel) || name_print_eq(nm, XN_FLAG_ONELINE, sel))
		return 1;
	one = X509_NAME_oneline(nm, NULL, 0);
	eq = one != NULL && strcmp(one, sel) == 0;
	OPENSSL_free(one);
	return eq;
}

static int cn_matches(X509 *x, const char *sel)
{
	X509_NAME *nm = X509_get_subject_name(x);

	for (int i = -1; (i = X509_NAME_get_index_by_NID(nm, NID_commonName, i)) >= 0;) {
		unsigned char *u = NULL;
		int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
		int eq = l >= 0 && (size_t)l == strlen(sel) && memcmp(u, sel, (size_t)l) == 0;

		OPENSSL_free(u);
		if (eq)
			return 1;
	}
	return 0;
}

static prov_status select_roots(build *b, json_t *sels, prov_err *e)
{
	for (size_t s = 0; s < b->o->n_select; s++) {
		const char *sel = b->o->select[s];
		uint8_t fp[32];
		const char *kind = is_fingerprint(sel, fp) ? "sha256" : strchr(sel, '=') != NULL ? "dn" : "cn";
		json_t *m = json_array();
		const cand *unusable = NULL;

		for (size_t i = 0; i < b->n; i++) {
			cand *c = &b->c[i];
			int hit = kind[0] == 's' ? memcmp(c->fp, fp, 32) == 0
			          : kind[0] == 'd' ? dn_matches(c->x, sel)
			                           : cn_matches(c->x, sel);

			if (!hit)
				continue;
			json_array_append_new(m, json_string(c->fp_hex));
			c->relevant = 1;
			if (c->drop == DROP_DUPLICATE)
				c = &b->c[c->rep]; /* its group's kept certificate stands for it */
			c->relevant = 1;
			if (c->drop == KEEP)
				c->selected = 1;
			else if (unusable == NULL)
				unusable = c;
		}
		json_array_append_new(sels, json_pack("{s:s, s:s, s:o}", "selector", sel, "kind", kind,
		                                      "matched", m));
		if (json_array_size(m) == 0)
			return prov_err_set(e, PROV_E_NOTFOUND,
			                    "--select \"%s\": no input certificate matches it (by %s)", sel,
			                    kind[0] == 's' ? "SHA-256 fingerprint" : kind[0] == 'd' ? "subject DN"
			                                                                          : "common name");
		if (unusable != NULL) {
			char detail[sizeof(((prov_err *)0)->msg) + 64];

			/* named on purpose: never dropped in silence, never half a selection */
			return prov_err_set(e, PROV_E_INPUT, "--select \"%s\": %s (%.16s...) cannot be an anchor: %s", sel,
			                    unusable->subject, unusable->fp_hex,
			                    drop_detail(b, unusable, detail, sizeof(detail)));
		}
	}
	return PROV_OK;
}

/* ---- chains ---- */

typedef struct chain {
	const char *file;
	STACK_OF(X509) *certs;    /* as served: the leaf first */
} chain;

static json_t *path_json(X509 *const *path, int depth)
{
	json_t *a = json_array();

	for (int i = 0; i <= depth; i++) {
		char *s = name_text(X509_get_subject_name(path[i]));

		json_array_append_new(a, json_string(s != NULL ? s : "?"));
		free(s);
	}
	return a;
}

static int signed_by(X509 *cert, EVP_PKEY *k)
{
	int ok = X509_verify(cert, k) == 1;

	ERR_clear_error();
	return ok;
}

/* Walk the served certificates from path[depth] towards the roots: every root
 * whose name-key is the issuer's and whose key verifies path[depth] anchors the
 * chain (that is exactly the device's lookup); every served certificate that
 * issued path[depth] extends the path (cross-certificates included). */
static void walk(build *b, chain *ch, size_t ci, X509 **path, int depth, unsigned used)
{
	X509 *cur = path[depth];
	const unsigned char *iss = NULL;
	size_t iss_len = 0;
	uint8_t nk[PROV_TRUST_NAME_KEY_LEN];

	X509_NAME_get0_der(X509_get_issuer_name(cur), &iss, &iss_len);
	prov_trust_name_key(iss, iss_len, nk);
	for (size_t i = 0; i < b->n; i++) {
		cand *c = &b->c[i];

		if (!c->anchor_ok || memcmp(c->a.name_key, nk, sizeof(nk)) != 0)
			continue;
		if ((c->covers & (1ull << ci)) != 0 &&
		    json_array_size(json_array_get(c->paths, ci)) <= (size_t)depth + 1)
			continue; /* already known, by a path at most as long */
		if (!signed_by(cur, X509_get0_pubkey(c->x)))
			continue;
		c->covers |= 1ull << ci;
		json_array_set_new(c->paths, ci, path_json(path, depth));
	}
	if (depth >= CHAIN_DEPTH_MAX)
		return;
	for (int s = 1; s < sk_X509_num(ch->certs); s++) {
		X509 *x = sk_X509_value(ch->certs, s);

		/* a served issuer must be a CA (basicConstraints cA, keyCertSign if
		 * keyUsage is there), as Mbed TLS requires of a parent */
		if ((used & (1u << s)) != 0 || X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(cur)) != 0 ||
		    X509_check_ca(x) != 1 || !signed_by(cur, X509_get0_pubkey(x)))
			continue;
		path[depth + 1] = x;
		walk(b, ch, ci, path, depth + 1, used | (1u << s));
	}
}

static int popcount64(uint64_t v)
{
	int n = 0;

	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

/* Is set x (bits over candidates) a better choice than y? */
static int set_better(uint64_t x, uint64_t y, const size_t *cost, size_t m)
{
	size_t cx = 0, cy = 0;
	uint64_t d;

	for (size_t i = 0; i < m; i++) {
		cx += (x >> i & 1) ? cost[i] : 0;
		cy += (y >> i & 1) ? cost[i] : 0;
	}
	if (cx != cy)
		return cx < cy;
	if (popcount64(x) != popcount64(y))
		return popcount64(x) < popcount64(y);
	d = x ^ y;
	return d != 0 && (x & d & (~d + 1)) != 0; /* holds the lowest differing candidate */
}

static prov_status choose(build *b, chain *chs, size_t nch, json_t *opt, prov_err *e)
{
	size_t m = 0, *cost = NULL, total = 0;
	int *idx = NULL;
	uint64_t *cov = NULL, all = nch == 64 ? ~0ull : (1ull << nch) - 1, best = 0;
	const char *method;

	idx = calloc(b->n + 1, sizeof(*idx));
	cost = calloc(b->n + 1, sizeof(*cost));
	cov = calloc(b->n + 1, sizeof(*cov));
	if (idx == NULL || cost == NULL || cov == NULL) {
		free(idx);
		free(cost);
		free(cov);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	(void)chs;
	/* candidates in store order (the caller sorted b->c), so ties break the same
	 * way whatever the input order */
	for (size_t i = 0; i < b->n; i++)
		if (b->c[i].drop == KEEP && b->c[i].covers != 0) {
			idx[m] = (int)i;
			cost[m] = b->c[i].cost;
			cov[m++] = b->c[i].covers;
		}
	if (m <= PROV_TRUST_EXACT_MAX) {
		method = "exact";
		for (uint64_t s = 1; s < (1ull << m); s++) {
			uint64_t c = 0;

			for (size_t i = 0; i < m; i++)
				if (s >> i & 1)
					c |= cov[i];
			if (c == all && (best == 0 || set_better(s, best, cost, m)))
				best = s;
		}
	} else {
		/* Weighted set cover is NP-hard: greedy by bytes per newly covered
		 * chain, then drop members the others make redundant. */
		uint64_t got = 0;

		method = "greedy";
		while (got != all) {
			size_t pick = m;

			for (size_t i = 0; i < m; i++) {
				int gain = popcount64(cov[i] & ~got);

				if (gain == 0 || (best >> i & 1))
					continue;
				if (pick == m || (uint64_t)gain * cost[pick] > (uint64_t)popcount64(cov[pick] & ~got) * cost[i])
					pick = i;
			}
			if (pick == m)
				break;
			best |= 1ull << pick;
			got |= cov[pick];
		}
		for (size_t i = m; i-- > 0;) {
			uint64_t rest = 0;

			if (!(best >> i & 1))
				continue;
			for (size_t k = 0; k < m; k++)
				if (k != i && (best >> k & 1))
					rest |= cov[k];
			if (rest == all)
				best &= ~(1ull << i);
		}
		note(b, "%zu candidate roots: chose greedily (exact search is limited to %d); the set may not be the smallest",
		     m, PROV_TRUST_EXACT_MAX);
	}
	for (size_t i = 0; i < m; i++)
		if (best >> i & 1) {
			b->c[idx[i]].selected = 1;
			total += cost[i];
		}
	json_object_set_new(opt, "method", json_string(method));
	json_object_set_new(opt, "candidates", json_integer((json_int_t)m));
	json_object_set_new(opt, "chosen", json_integer(popcount64(best)));
	json_object_set_new(opt, "bytes", json_integer((json_int_t)total));
	free(idx);
	free(cost);
	free(cov);
	return PROV_OK;
}

static prov_status chains_roots(build *b, json_t *out, json_t *opt, prov_err *e)
{
	chain *chs = calloc(b->o->n_chains, sizeof(*chs));
	prov_status st = PROV_OK;
	char iso[32];

	if (chs == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (b->o->n_chains > PROV_TRUST_MAX_CHAINS) {
		free(chs);
		return prov_err_set(e, PROV_E_USAGE, "at most %d --chain files", PROV_TRUST_MAX_CHAINS);
	}
	for (size_t i = 0; i < b->n; i++)
		b->c[i].paths = json_array();
	for (size_t k = 0; k < b->o->n_chains && st == PROV_OK; k++) {
		X509 *path[CHAIN_DEPTH_MAX + 1];

		chs[k].file = b->o->chains[k];
		st = load_file(chs[k].file, &chs[k].certs, e);
		if (st != PROV_OK) {
			prov_err_wrap(e, "--chain");
			break;
		}
		if (sk_X509_num(chs[k].certs) > 31) {
			st = prov_err_set(e, PROV_E_INPUT, "--chain %s: more than 31 certificates", chs[k].file);
			break;
		}
		for (size_t i = 0; i < b->n; i++)
			json_array_append_new(b->c[i].paths, json_null());
		path[0] = sk_X509_value(chs[k].certs, 0);
		walk(b, &chs[k], k, path, 0, 1u);
	}
	for (size_t k = 0; k < b->o->n_chains && st == PROV_OK; k++) {
		char *leaf = name_text(X509_get_subject_name(sk_X509_value(chs[k].certs, 0)));
		json_t *by = json_array(), *unusable = json_array();
		const cand *exp = NULL, *bad = NULL;

		for (size_t i = 0; i < b->n; i++) {
			cand *c = &b->c[i];

			if (!(c->covers >> k & 1))
				continue;
			c->relevant = 1;
			if (c->drop == KEEP)
				json_array_append_new(by, json_pack("{s:s, s:s, s:I, s:O}", "subject", c->subject, "sha256",
				                                    c->fp_hex, "size", (json_int_t)c->cost, "path",
				                                    json_array_get(c->paths, k)));
			else if (c->drop != DROP_DUPLICATE) {
				json_array_append_new(unusable, json_pack("{s:s, s:s, s:s}", "subject", c->subject, "sha256",
				                                          c->fp_hex, "reason", drop_name(c)));
				if (c->drop == DROP_EXPIRED)
					exp = c;
				else if (bad == NULL)
					bad = c;
			}
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:o, s:o}", "file", chs[k].file, "leaf",
		                                     leaf != NULL ? leaf : "?", "covered_by", by, "unusable", unusable));
		free(leaf);
		if (json_array_size(by) == 0) {
			if (exp != NULL)
				st = prov_err_set(e, PROV_E_VERIFY,
				                  "--chain %s: no usable input root validates it (%s would, but it expired %s)",
				                  chs[k].file, exp->subject, prov_time_iso(exp->a.not_after, iso));
			else if (bad != NULL)
				st = prov_err_set(e, PROV_E_VERIFY,
				                  "--chain %s: no usable input root validates it (%s would, but it cannot be an "
				                  "anchor: %s)", chs[k].file, bad->subject, bad->why);
			else
				st = prov_err_set(e, PROV_E_VERIFY, "--chain %s: no input root validates it", chs[k].file);
		}
	}
	if (st == PROV_OK)
		st = choose(b, chs, b->o->n_chains, opt, e);
	if (st == PROV_OK) {
		/* which chosen root covers which chain */
		for (size_t k = 0; k < b->o->n_chains; k++) {
			json_t *chosen = json_array();

			for (size_t i = 0; i < b->n; i++)
				if (b->c[i].selected && (b->c[i].covers >> k & 1))
					json_array_append_new(chosen, json_string(b->c[i].fp_hex));
			json_object_set_new(json_array_get(out, k), "chosen", chosen);
		}
	}
	for (size_t k = 0; k < b->o->n_chains; k++)
		sk_X509_pop_free(chs[k].certs, X509_free);
	free(chs);
	return st;
}

/* ---- pins ---- */

static prov_status add_pin(build *b, const uint8_t *spki, size_t spki_len, X509 *cert, const char *src,
                           prov_err *e)
{
	uint8_t *np = realloc(b->pins, (b->n_pins + 1) * PROV_TRUST_PIN_LEN), *pin;
	char hex[2 * PROV_TRUST_PIN_LEN + 1], fp[65];
	json_t *j;

	if (np == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	b->pins = np;
	pin = np + b->n_pins++ * PROV_TRUST_PIN_LEN;
	prov_trust_pin(spki, spki_len, pin);
	j = json_pack("{s:s, s:s}", "spki_sha256", prov_hex(pin, PROV_TRUST_PIN_LEN, hex), "source", src);
	if (cert != NULL) {
		uint8_t md[32];
		unsigned int ml = 0;
		char *nm = name_text(X509_get_subject_name(cert));

		X509_digest(cert, EVP_sha256(), md, &ml);
		json_object_set_new(j, "name", nm != NULL ? json_string(nm) : json_null());
		json_object_set_new(j, "sha256", json_string(prov_hex(md, sizeof(md), fp)));
		/* a pin identifies one server; it signs nothing, whatever the certificate says */
		json_object_set_new(j, "ca", json_boolean(X509_check_ca(cert) != 0));
		if (X509_check_ca(cert) != 0)
			note(b, "pinned %s (%.16s...) is a CA certificate: the device trusts a server presenting this key, "
			     "never a certificate it signed", nm != NULL ? nm : "?", fp);
		free(nm);
	} else {
		json_object_set_new(j, "name", json_null());
		json_object_set_new(j, "sha256", json_null());
	}
	json_array_append_new(b->pins_json, j);
	return PROV_OK;
}

/* One --pin file: certificates (PEM, or DER back to back) and PEM PUBLIC KEY
 * blocks (a SubjectPublicKeyInfo); every one is pinned, anything else in a
 * PEM block list is an error. */
static prov_status add_pin_file(build *b, const char *path, prov_err *e)
{
	uint8_t *buf = NULL, *der = NULL;
	size_t len = 0;
	STACK_OF(X509) *sk = NULL;
	prov_status st = prov_file_read(path, INPUT_FILE_MAX, &buf, &len, e);
	const char *src;
	int n = 0;

	if (st != PROV_OK)
		return prov_err_wrap(e, "--pin");
	src = keep_path(b, path);
	if (src == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (has_pem(buf, len)) {
		BIO *bio = BIO_new_mem_buf(buf, (int)len);
		char *name = NULL, *hdr = NULL;
		unsigned char *data = NULL;
		long dlen = 0;

		for (int blk = 1; bio != NULL && st == PROV_OK; blk++) {
			if (!PEM_read_bio(bio, &name, &hdr, &data, &dlen)) {
				unsigned long err = ERR_peek_last_error();

				ERR_clear_error();
				if (ERR_GET_REASON(err) != PEM_R_NO_START_LINE)
					st = prov_err_set(e, PROV_E_INPUT, "--pin %s: PEM block %d is garbage", path, blk);
				break;
			}
			if (strcmp(name, "CERTIFICATE") == 0) {
				const unsigned char *p = data;
				X509 *x = d2i_X509(NULL, &p, dlen);
				int l = x != NULL && p == data + dlen ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;

				if (l <= 0)
					st = prov_err_set(e, PROV_E_INPUT, "--pin %s: PEM block %d is not a valid certificate", path, blk);
				else
					st = add_pin(b, der, (size_t)l, x, src, e);
				X509_free(x);
			} else if (strcmp(name, "PUBLIC KEY") == 0) {
				const unsigned char *p = data;
				EVP_PKEY *k = d2i_PUBKEY(NULL, &p, dlen);

				if (k == NULL || p != data + dlen)
					st = prov_err_set(e, PROV_E_INPUT, "--pin %s: PEM block %d is not a valid public key", path, blk);
				else
					st = add_pin(b, data, (size_t)dlen, NULL, src, e); /* the SPKI as given */
				EVP_PKEY_free(k);
			} else {
				st = prov_err_set(e, PROV_E_INPUT, "--pin %s: PEM block %d is neither CERTIFICATE nor PUBLIC KEY",
				                  path, blk);
			}
			n += st == PROV_OK;
			OPENSSL_free(der);
			der = NULL;
			OPENSSL_free(name);
			OPENSSL_free(hdr);
			OPENSSL_free(data);
			name = hdr = NULL;
			data = NULL;
		}
		BIO_free(bio);
		ERR_clear_error();
		if (st == PROV_OK && n == 0)
			st = prov_err_set(e, PROV_E_INPUT, "--pin %s: no certificate or public key in its PEM blocks", path);
		goto out;
	}
	sk = sk_X509_new_null();
	if (sk == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (parse_certs(buf, len, path, sk, e) < 0) {
		st = prov_err_wrap(e, "--pin");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(sk) && st == PROV_OK; i++) {
		int l = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(sk_X509_value(sk, i)), &der);

		st = l > 0 ? add_pin(b, der, (size_t)l, sk_X509_value(sk, i), src, e)
		           : prov_err_set(e, PROV_E_INPUT, "--pin %s: unreadable public key", path);
		OPENSSL_free(der);
		der = NULL;
	}
out:
	sk_X509_pop_free(sk, X509_free);
	free(buf);
	return st;
}

/* ---- output ---- */

static int cand_cmp(const void *x, const void *y)
{
	const cand *a = x, *b = y;
	int c;

	if (a->anchor_ok != b->anchor_ok)
		return a->anchor_ok ? -1 : 1;
	if (!a->anchor_ok)
		return memcmp(a->fp, b->fp, sizeof(a->fp));
	c = memcmp(a->a.name_key, b->a.name_key, PROV_TRUST_NAME_KEY_LEN);
	if (c == 0) {
		size_t n = a->a.record_len < b->a.record_len ? a->a.record_len : b->a.record_len;

		c = memcmp(a->a.record, b->a.record, n);
		if (c == 0)
			c = a->a.record_len < b->a.record_len ? -1 : a->a.record_len > b->a.record_len;
	}
	return c != 0 ? c : memcmp(a->fp, b->fp, sizeof(a->fp));
}

static prov_status costs(build *b, prov_err *e)
{
	for (size_t i = 0; i < b->n; i++) {
		cand *c = &b->c[i];
		BIO *m = BIO_new(BIO_s_mem());
		char *p = NULL;
		long l;

		if (m == NULL || !PEM_write_bio_X509(m, c->x) || (l = BIO_get_mem_data(m, &p)) <= 0 ||
		    (c->pem = malloc((size_t)l)) == NULL) {
			BIO_free(m);
			return prov_err_set(e, PROV_E_INTERNAL, "cannot encode a certificate as PEM");
		}
		memcpy(c->pem, p, (size_t)l);
		c->pem_len = (size_t)l;
		BIO_free(m);
		switch (b->o->format) {
		case PROV_TRUST_FMT_DER: c->cost = (size_t)i2d_X509(c->x, NULL); break;
		case PROV_TRUST_FMT_PEM: c->cost = c->pem_len; break;
		default: c->cost = c->anchor_ok ? PROV_TRUST_INDEX_REC + c->a.record_len : 0; break;
		}
	}
	return PROV_OK;
}

static prov_status write_output(build *b, uint8_t **out, size_t *out_len, json_t *anchors, prov_err *e)
{
	const prov_trust_anchor **as = calloc(b->n + 1, sizeof(*as));
	uint8_t *buf = NULL, *store = NULL;
	size_t len = 0, k = 0, store_len = 0;
	char hex[2 * PROV_TRUST_NAME_KEY_LEN + 1], iso[32];
	prov_status st = PROV_OK;

	if (as == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < b->n; i++) {
		cand *c = &b->c[i];
		json_t *j;

		if (!c->selected)
			continue;
		as[k++] = &c->a;
		j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:s}", "subject", c->subject, "sha256",
		              c->fp_hex, "name_key", prov_hex(c->a.name_key, PROV_TRUST_NAME_KEY_LEN, hex), "alg",
		              prov_trust_alg_name(c->a.alg), "key_bytes", (json_int_t)c->a.key_len,
		              "name_constraints", c->a.name_constraints != NULL, "size", (json_int_t)c->cost,
		              "source", c->source);
		json_object_set_new(j, "not_after", c->a.no_expiry ? json_null()
		                                                   : json_string(prov_time_iso(c->a.not_after, iso)));
		json_object_set_new(j, "path_len", c->a.has_path_len && c->a.path_len <= (uint64_t)INT64_MAX
		                                       ? json_integer((json_int_t)c->a.path_len) : json_null());
		json_array_append_new(anchors, j);
		if (c->a.name_constraints != NULL)
			note(b, "kept %s (%.16s...) with its name constraints; the device cannot enforce them "
			     "(Mbed TLS 2.28), so it never uses this anchor", c->subject, c->fp_hex);
		if (b->o->format == PROV_TRUST_FMT_DER || b->o->format == PROV_TRUST_FMT_PEM) {
			int dl = i2d_X509(c->x, NULL);
			size_t add = b->o->format == PROV_TRUST_FMT_PEM ? c->pem_len : (size_t)dl;
			uint8_t *nb = realloc(buf, len + add + 1), *p;

			if (dl <= 0 || nb == NULL) {
				st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
				goto out;
			}
			buf = nb;
			p = buf + len;
			if (b->o->format == PROV_TRUST_FMT_PEM)
				memcpy(p, c->pem, c->pem_len);
			else
				i2d_X509(c->x, &p);
			len += add;
		}
	}
	if (k == 0 && b->n_pins == 0) {
		st = prov_err_set(e, PROV_E_INPUT, "nothing to write: no usable root is left%s",
		                  json_array_size(b->dropped) > 0 ? " (see the dropped certificates)" : "");
		goto out;
	}
	if (b->n_pins > 0 && b->o->format != PROV_TRUST_FMT_STORE && b->o->format != PROV_TRUST_FMT_C) {
		st = prov_err_set(e, PROV_E_USAGE, "--pin: only a store (--format store or c) holds pins");
		goto out;
	}
	if (b->o->format == PROV_TRUST_FMT_STORE || b->o->format == PROV_TRUST_FMT_C) {
		st = prov_trust_store_encode(as, k, b->pins, b->n_pins, &store, &store_len, e);
		if (st != PROV_OK)
			goto out;
		if (b->o->format == PROV_TRUST_FMT_STORE) {
			buf = store;
			len = store_len;
			store = NULL;
		} else {
			st = prov_trust_c_header(store, store_len, k, (char **)&buf, &len, e);
		}
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(store);
	free(buf);
	free(as);
	return st;
}

static void build_free(build *b)
{
	for (size_t i = 0; i < b->n; i++) {
		X509_free(b->c[i].x);
		free(b->c[i].subject);
		OPENSSL_free(b->c[i].spki);
		prov_trust_anchor_clear(&b->c[i].a);
		json_decref(b->c[i].paths);
		free(b->c[i].pem);
	}
	free(b->c);
	for (size_t i = 0; i < b->n_paths; i++)
		free(b->paths[i]);
	free(b->paths);
	free(b->pins);
}

prov_status prov_trust_build(const prov_trust_build_opts *o, uint8_t **out, size_t *out_len,
                             json_t **report, prov_err *e)
{
	build b;
	json_t *sels = json_array(), *chains = json_array(), *opt = json_object(), *anchors = json_array();
	const char *mode = o->n_from == 0 ? "pins" : o->all ? "all" : o->n_select > 0 ? "select" : "chain";
	char iso[32];
	prov_status st = PROV_OK;

	memset(&b, 0, sizeof(b));
	b.o = o;
	*out = NULL;
	*out_len = 0;
	*report = NULL;
	b.inputs = json_array();
	b.dropped = json_array();
	b.notes = json_array();
	b.pins_json = json_array();
	b.report = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "mode", mode, "format",
	                     prov_trust_format_name(o->format), "at", prov_time_iso(o->at, iso), "inputs",
	                     b.inputs, "anchors", anchors, "pins", b.pins_json, "dropped", b.dropped, "notes",
	                     b.notes);
	if (b.report == NULL || sels == NULL || chains == NULL || opt == NULL) {
		json_decref(sels);
		json_decref(chains);
		json_decref(opt);
		json_decref(b.report);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < o->n_from && st == PROV_OK; i++)
		st = add_input(&b, o->from[i], e);
	if (st == PROV_OK && b.n == 0 && o->n_from > 0)
		st = prov_err_set(e, PROV_E_INPUT, "no certificate in the --from inputs");
	for (size_t i = 0; i < o->n_pins && st == PROV_OK; i++)
		st = add_pin_file(&b, o->pins[i], e);
	if (st == PROV_OK && b.n > 0) {
		/* store order first, so everything below is independent of input order */
		qsort(b.c, b.n, sizeof(*b.c), cand_cmp);
		hygiene(&b);
		st = costs(&b, e);
	}
	if (st == PROV_OK && o->n_from > 0) {
		if (o->all) {
			for (size_t i = 0; i < b.n; i++) {
				b.c[i].relevant = 1;
				b.c[i].selected = b.c[i].drop == KEEP;
			}
		} else if (o->n_select > 0) {
			json_object_set(b.report, "selectors", sels);
			st = select_roots(&b, sels, e);
		} else {
			json_object_set(b.report, "chains", chains);
			json_object_set(b.report, "optimization", opt);
			st = chains_roots(&b, chains, opt, e);
		}
	}
	report_drops(&b);
	if (st == PROV_OK)
		st = write_output(&b, out, out_len, anchors, e);
	if (st == PROV_OK) {
		uint8_t md[32];
		char hex[65];

		EVP_Digest(*out, *out_len, md, NULL, EVP_sha256(), NULL);
		json_object_set_new(b.report, "output",
		                    json_pack("{s:s, s:I, s:I, s:I, s:s}", "format", prov_trust_format_name(o->format),
		                              "count", (json_int_t)json_array_size(anchors), "pins",
		                              (json_int_t)b.n_pins, "size", (json_int_t)*out_len, "sha256",
		                              prov_hex(md, sizeof(md), hex)));
	}
	*report = b.report;
	json_decref(sels);
	json_decref(chains);
	json_decref(opt);
	build_free(&b);
	return st;
}
