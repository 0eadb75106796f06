/*
 * prov/smp.h - the host side of SMP (MCUmgr's Simple Management Protocol, v2) over
 * a console line (docs/serial-protocol.md), in three replaceable layers:
 *
 *   console framing   prov_smp_frame_encode / prov_smp_decoder: a packet as
 *                     marker-framed base64 lines with a length and CRC-16/XMODEM;
 *                     everything else on the line is skipped, the decoder resyncs
 *                     on the next marker.  The agent's own code (pa/pa_console.h,
 *                     firmware-agent/smp/pa_console.c, compiled into libprov):
 *                     host and device share one implementation and one CRC;
 *   SMP header        prov_smp_hdr_put / _get: 8 bytes before a CBOR body;
 *   the line          prov_smp_port: a tty or pty in raw mode at a baud rate,
 *                     with a request/response exchange that retransmits.
 *
 * Nothing here allocates behind the caller's back except where it says so
 * (*out buffers and CBOR items the caller releases).  A port and a decoder are
 * used by one thread at a time; different ports in different threads are fine.
 */
#ifndef PROV_SMP_H
#define PROV_SMP_H

#include <cbor.h>
#include <stddef.h>
#include <stdint.h>

#include "pa/pa_console.h"
#include "pa/pa_status.h"
#include "prov/bundle.h"
#include "prov/err.h"

/* Console framing constants (docs/serial-protocol.md, section 1). */
#define PROV_SMP_LINE_MAX PA_CONSOLE_LINE    /* bytes per line: 2 marker bytes, base64, '\n' */
#define PROV_SMP_B64_PER_LINE PA_CONSOLE_B64 /* base64 characters per line, a multiple of 4 */
#define PROV_SMP_PKT_MAX 4096        /* largest packet (header + body) we handle */
#define PROV_SMP_HDR_LEN 8

/* SMP ops (header byte 0, low 3 bits) and the version field (SMP v2). */
enum {
	PROV_SMP_OP_READ = 0,
	PROV_SMP_OP_READ_RSP = 1,
	PROV_SMP_OP_WRITE = 2,
	PROV_SMP_OP_WRITE_RSP = 3,
};
#define PROV_SMP_VERSION 1

/* Groups, commands and the MCUmgr error code the host reacts to: the agent's own
 * numbers (pa/pa_status.h), so host and device share one definition. */
#define PROV_SMP_GROUP_OS PA_SMP_GROUP_OS
#define PROV_SMP_OS_ECHO PA_SMP_OS_ECHO
#define PROV_SMP_GROUP_PROV PA_SMP_GROUP_PROV
enum {
	PROV_SMP_P_INFO = PA_SMP_INFO,
	PROV_SMP_P_KEYGEN = PA_SMP_KEYGEN,
	PROV_SMP_P_UPLOAD = PA_SMP_UPLOAD,
	PROV_SMP_P_COMMIT = PA_SMP_COMMIT,
	PROV_SMP_P_STATUS = PA_SMP_STATUS,
};
#define PROV_SMP_RC_NOT_SUPPORTED PA_SMP_ENOTSUP  /* MCUmgr MGMT_ERR_ENOTSUP */

/* CRC-16/XMODEM: poly 0x1021, init 0, no reflection, no final xor: the agent's. */
#define prov_smp_crc16(p, n) pa_crc16(0, (p), (n))

typedef struct prov_smp_hdr {
	unsigned op;        /* PROV_SMP_OP_* */
	unsigned version;   /* 1 for SMP v2 */
	unsigned flags;
	unsigned len;       /* body length */
	unsigned group;
	unsigned seq;
	unsigned id;
} prov_smp_hdr;

void prov_smp_hdr_put(const prov_smp_hdr *h, uint8_t out[PROV_SMP_HDR_LEN]);
void prov_smp_hdr_get(const uint8_t in[PROV_SMP_HDR_LEN], prov_smp_hdr *h);

/* Frame a packet as console text: first line 0x06 0x09, continuation lines
 * 0x04 0x14, each at most 127 bytes with its '\n'.  *out is malloc'd (not
 * NUL-terminated; *out_len bytes).  PROV_E_INPUT for an empty or oversized packet. */
prov_status prov_smp_frame_encode(const uint8_t *pkt, size_t n, uint8_t **out, size_t *out_len,
                                  prov_err *e);

/* The receiving side of the framing: the agent's decoder (pa_console) with a
 * buffer for the host's largest packet.  Bytes are pushed in as they arrive; a
 * packet comes out when its last line is complete and its CRC matches.  Not to
 * be copied once initialised (con points into buf).  Counters: con.packets,
 * con.drops (packets lost to damage), con.skipped (lines of other text). */
typedef struct prov_smp_decoder {
	pa_console con;
	uint8_t buf[PA_CONSOLE_BUF(PROV_SMP_PKT_MAX)];
	const uint8_t *pkt;           /* the packet just completed, in buf */
	size_t pkt_len;
} prov_smp_decoder;

void prov_smp_decoder_init(prov_smp_decoder *d);

/* Push up to n bytes.  Returns how many were consumed; when a packet completed,
 * stops right after its last byte and sets *pkt (pointing into d, valid until
 * the next push) and *pkt_len; otherwise *pkt is NULL and all n were consumed. */
size_t prov_smp_decoder_push(prov_smp_decoder *d, const uint8_t *buf, size_t n,
                             const uint8_t **pkt, size_t *pkt_len);

/* A line to a device. */
typedef struct prov_smp_port {
	int fd;
	char path[256];
	prov_smp_decoder dec;
	uint8_t inbuf[512];
	size_t in_pos, in_len;
	uint8_t seq;
	unsigned timeout_ms;          /* first wait for an answer; doubles per retry */
	unsigned tries;               /* sends per request, at least 1 */
	unsigned baud;                /* the line speed set (0 unknown): waits add the
	                               * time a packet and its answer take on the wire */
	/* counters, for progress and benchmarks */
	unsigned long long bytes_out, bytes_in;
	unsigned long requests, retries;
} prov_smp_port;

#define PROV_SMP_TIMEOUT_MS_DEFAULT 1000
#define PROV_SMP_TRIES_DEFAULT 8
#define PROV_SMP_WAIT_MAX_MS 8000    /* a retry's wait stops doubling here */

/* True if baud is one the port layer can set. */
int prov_smp_baud_valid(unsigned baud);

/* Open a terminal (tty or pty) read/write, exclusive, in raw mode 8N1 at baud
 * (0: leave the speed alone).  PROV_E_NOTFOUND no such file, PROV_E_INPUT not a
 * terminal, PROV_E_IO cannot open or configure it. */
prov_status prov_smp_port_open(prov_smp_port *p, const char *path, unsigned baud, prov_err *e);
void prov_smp_port_close(prov_smp_port *p);

/* One request and its answer: body (a CBOR map, borrowed) sent with the next
 * sequence number and retransmitted with the same one after each timeout;
 * answers with another sequence number, group, command or op are ignored.
 * On PROV_OK *resp is the answer's body (the caller decrefs it) and *dev_rc is 0,
 * or the rc of an SMP error answer {"err": {"group", "rc"}} (or the legacy
 * {"rc": n}).  PROV_E_IO when no answer came after every try; PROV_E_INPUT at once
 * for an answer that is malformed (prov_smp_answer_decode says what). */
prov_status prov_smp_request(prov_smp_port *p, unsigned op, unsigned group, unsigned id,
                             cbor_item_t *body, cbor_item_t **resp, int *dev_rc, prov_err *e);

/* ---- the device's answers (libprov/src/serial/answer.c) --------------------------
 * Everything the host reads from a device, as pure functions of the bytes (the
 * fuzz target fuzz_smp_answer runs them on anything).  Errors are PROV_E_INPUT
 * with a message that names the field; text the device sent is escaped. */

/* One packet against the request `req` it may answer: on PROV_OK, *body is the
 * answer's CBOR map (the caller decrefs it) and *dev_rc 0 or the rc of an error
 * answer {"err": {"group", "rc"}} (or the legacy {"rc": n}); *body is NULL for a
 * packet that answers something else (another sequence number, group, command
 * or op, or shorter than a header: the caller waits on).  PROV_E_INPUT for an
 * answer to req that is malformed (its length, CBOR, not a map, an err without
 * rc): the device's word, CRC-checked, so no retry mends it. */
prov_status prov_smp_answer_decode(const uint8_t *pkt, size_t len, const prov_smp_hdr *req,
                                   cbor_item_t **body, int *dev_rc, prov_err *e);

/* info: what the device reports about itself (docs/serial-protocol.md section 4).
 * Fails unless dev is a valid device ID, pub 1..256 bytes, nonce
 * PROV_NONCE_MIN..MAX bytes, and mtu, max and ctr are there. */
typedef struct prov_smp_info {
	char id[65];
	char ver[64];                    /* "" if absent or unusable */
	uint64_t mtu, max, slots, ctr;
	uint8_t pub[256];                /* DER SubjectPublicKeyInfo */
	size_t pub_len;
	uint8_t nonce[PROV_NONCE_MAX];
	size_t nonce_len;
} prov_smp_info;
prov_status prov_smp_info_parse(const cbor_item_t *body, prov_smp_info *d, prov_err *e);

/* status: the installed counter, the manifest digest if 32 bytes, the receipt
 * of the installed set if present and 1..PROV_RECEIPT_MAX bytes (borrowed from
 * body). */
typedef struct prov_smp_status {
	uint64_t ctr;
	int has_digest;
	uint8_t digest[32];
	const uint8_t *receipt;          /* NULL: none */
	size_t receipt_len;
} prov_smp_status;
prov_status prov_smp_status_parse(const cbor_item_t *body, prov_smp_status *s, prov_err *e);

/* keygen: the CSR (borrowed from body), a DER PKCS#10 request of at most
 * PROV_SMP_CSR_MAX bytes whose signature verifies with its own key, and that
 * key's DER SubjectPublicKeyInfo (at most 256 bytes) in spki. */
#define PROV_SMP_CSR_MAX 1024
prov_status prov_smp_keygen_parse(const cbor_item_t *body, const uint8_t **csr, size_t *csr_len,
                                  uint8_t spki[256], size_t *spki_len, prov_err *e);

/* commit: the receipt (borrowed from body), 1..PROV_RECEIPT_MAX bytes. */
prov_status prov_smp_commit_parse(const cbor_item_t *body, const uint8_t **receipt, size_t *len,
                                  prov_err *e);

/* upload: how many bytes the device holds. */
prov_status prov_smp_upload_parse(const cbor_item_t *body, uint64_t *off, prov_err *e);

/* Map helpers for text-keyed bodies (borrowed pointers; NULL if absent or of
 * another type). */
cbor_item_t *prov_smp_get(const cbor_item_t *map, const char *key);
int prov_smp_get_uint(const cbor_item_t *map, const char *key, uint64_t *v);
const uint8_t *prov_smp_get_bytes(const cbor_item_t *map, const char *key, size_t *len);
/* Copy a text value into out (cap bytes with the NUL); -1 if absent or too long. */
int prov_smp_get_text(const cbor_item_t *map, const char *key, char *out, size_t cap);
/* Add a text key to a map (takes the value).  0 or -1. */
int prov_smp_put(cbor_item_t *map, const char *key, cbor_item_t *value);

#endif
