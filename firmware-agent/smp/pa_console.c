/*
 * pa_console.c - console framing of SMP packets (pa/pa_console.h,
 * docs/serial-protocol.md section 1).
 */
#include <string.h>

#include "pa/pa_console.h"

/* Where in a line the decoder is: at its start (nothing but '\r' yet), in other
 * text, in the rest of a frame line it dropped, after a marker's first byte, or
 * in a frame line. */
enum { AT_START, TEXT, SKIP, AT_06, AT_04, IN_FRAME };

uint16_t pa_crc16(uint16_t crc, const uint8_t *p, size_t n)
{
	unsigned k;

	while (n-- > 0) {
		crc = (uint16_t)(crc ^ (uint16_t)(*p++ << 8));
		for (k = 0; k < 8; k++)
			crc = (uint16_t)(crc & 0x8000u ? (unsigned)(crc << 1) ^ 0x1021u : (unsigned)(crc << 1));
	}
	return crc;
}

void pa_console_init(pa_console *c, uint8_t *buf, size_t cap)
{
	memset(c, 0, sizeof(*c));
	c->buf = buf;
	c->cap = buf != NULL ? cap : 0;   /* no buffer: every packet is dropped */
}

static int b64val(uint8_t ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static void drop(pa_console *c)
{
	if (c->active)
		c->drops++;
	c->active = 0;
	c->state = SKIP;
}

static size_t want(const pa_console *c)
{
	return (size_t)c->buf[0] << 8 | c->buf[1];
}

/* One base64 character of a framed line. */
static void frame_char(pa_console *c, uint8_t ch)
{
	int v = ch == '=' ? 0 : b64val(ch);
	unsigned n, i;
	uint32_t w;

	if (++c->col > PA_CONSOLE_B64 || v < 0 || (ch == '=' && c->nq < 2) ||
	    (ch != '=' && c->pad > 0)) {
		drop(c);
		return;
	}
	if (ch == '=')
		c->pad++;
	c->quad[c->nq++] = (uint8_t)v;
	if (c->nq < 4)
		return;
	c->nq = 0;
	n = 3u - c->pad;
	if (c->have + n > c->cap) {
		drop(c);
		return;
	}
	w = (uint32_t)c->quad[0] << 18 | (uint32_t)c->quad[1] << 12 | (uint32_t)c->quad[2] << 6 |
	    c->quad[3];
	for (i = 0; i < n; i++)
		c->buf[c->have++] = (uint8_t)(w >> (16 - 8 * i));
	/* the length field (the sender's word): room for an 8-byte header and the
	 * CRC, and for all of it in the buffer */
	if (c->have >= 2 && c->have - n < 2 && (want(c) < 10 || want(c) + 2 > c->cap))
		drop(c);
}

/* The end of a framed line: a complete packet is checked and delivered. */
static void frame_end(pa_console *c, pa_console_deliver deliver, void *ctx)
{
	size_t w;

	c->state = AT_START;
	if (c->nq != 0 || c->have < 2) {
		drop(c);
		c->state = AT_START;
		return;
	}
	w = want(c);
	if (c->have - 2 < w)
		return;   /* more lines to come */
	if (c->have - 2 > w || pa_crc16(0, c->buf + 2, w) != 0) {
		drop(c);
		c->state = AT_START;
		return;
	}
	c->active = 0;
	c->packets++;
	deliver(ctx, c->buf + 2, w - 2);
}

void pa_console_push(pa_console *c, const uint8_t *b, size_t n, pa_console_deliver deliver,
                     void *ctx)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t ch = b[i];

		/* A marker byte starts a frame line wherever it is: 0x06 and 0x04 are in
		 * no base64 and no log text.  Inside a frame line it breaks that line. */
		if (ch == 0x06 || ch == 0x04) {
			if (c->state == IN_FRAME)
				drop(c);
			c->state = ch == 0x06 ? AT_06 : AT_04;
			continue;
		}
		switch (c->state) {
		case AT_06:
		case AT_04:
			if (ch == (c->state == AT_06 ? 0x09 : 0x14) && (c->state == AT_06 || c->active)) {
				if (c->state == AT_06) {
					if (c->active)
						c->drops++;   /* a half-received packet */
					c->active = 1;
					c->have = 0;
				}
				c->state = IN_FRAME;
				c->col = c->nq = c->pad = 0;
				break;
			}
			c->state = TEXT;   /* a marker byte without its pair, or a
			                    * continuation with no packet open */
			/* fall through */
		case AT_START:
		case TEXT:
		case SKIP:
			if (ch == '\n') {
				if (c->state == TEXT)
					c->skipped++;
				c->state = AT_START;
			} else if (ch != '\r' && c->state == AT_START) {
				c->state = TEXT;
			}
			break;
		default:   /* IN_FRAME */
			if (ch == '\n')
				frame_end(c, deliver, ctx);
			else if (ch != '\r')
				frame_char(c, ch);
			break;
		}
	}
}

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int pa_console_send(const uint8_t *pkt, size_t len, pa_console_write write, void *ctx)
{
	uint8_t line[PA_CONSOLE_LINE + 1];
	size_t total = len + 4, i = 0, k, col;
	uint16_t crc = pa_crc16(0, pkt, len);
	uint8_t raw[3];

	if (len + 2 > 0xffffu)
		return -1;
	while (i < total) {
		line[0] = i == 0 ? 0x06 : 0x04;
		line[1] = i == 0 ? 0x09 : 0x14;
		col = 2;
		while (i < total && col + 4 <= PA_CONSOLE_B64 + 2) {
			size_t n = total - i < 3 ? total - i : 3;
			uint32_t w;

			for (k = 0; k < 3; k++) {
				size_t j = i + k;

				raw[k] = k >= n ? 0 :
				         j == 0 ? (uint8_t)((len + 2) >> 8) :
				         j == 1 ? (uint8_t)(len + 2) :
				         j < len + 2 ? pkt[j - 2] :
				         j == len + 2 ? (uint8_t)(crc >> 8) : (uint8_t)crc;
			}
			w = (uint32_t)raw[0] << 16 | (uint32_t)raw[1] << 8 | raw[2];
			line[col++] = (uint8_t)b64chars[w >> 18];
			line[col++] = (uint8_t)b64chars[(w >> 12) & 63];
			line[col++] = n > 1 ? (uint8_t)b64chars[(w >> 6) & 63] : '=';
			line[col++] = n > 2 ? (uint8_t)b64chars[w & 63] : '=';
			i += n;
		}
		line[col++] = '\n';
		if (write(ctx, line, col) != 0)
			return -1;
	}
	return 0;
}
