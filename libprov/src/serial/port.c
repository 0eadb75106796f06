/* port.c - the line under SMP: a terminal in raw mode, and one request's
 * exchange with retransmission (see prov/smp.h). */
#include "prov/smp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "prov/cbor.h"

static const struct {
	unsigned baud;
	speed_t speed;
} bauds[] = {
	{1200, B1200}, {2400, B2400}, {4800, B4800}, {9600, B9600}, {19200, B19200},
	{38400, B38400}, {57600, B57600}, {115200, B115200}, {230400, B230400},
	{460800, B460800}, {921600, B921600}, {1000000, B1000000}, {2000000, B2000000},
};

static int baud_speed(unsigned baud, speed_t *s)
{
	for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
		if (bauds[i].baud == baud) {
			*s = bauds[i].speed;
			return 0;
		}
	return -1;
}

int prov_smp_baud_valid(unsigned baud)
{
	speed_t s;

	return baud_speed(baud, &s) == 0;
}

prov_status prov_smp_port_open(prov_smp_port *p, const char *path, unsigned baud, prov_err *e)
{
	struct termios t;
	struct stat sb;
	speed_t speed = B0;
	int fd;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->timeout_ms = PROV_SMP_TIMEOUT_MS_DEFAULT;
	p->tries = PROV_SMP_TRIES_DEFAULT;
	snprintf(p->path, sizeof(p->path), "%s", path);
	prov_smp_decoder_init(&p->dec);
	if (baud != 0 && baud_speed(baud, &speed) != 0)
		return prov_err_set(e, PROV_E_USAGE, "unsupported baud rate %u", baud);
	if (stat(path, &sb) != 0)
		return prov_err_set(e, errno == ENOENT ? PROV_E_NOTFOUND : PROV_E_IO,
		                    "port %s: %s", path, strerror(errno));
	if (!S_ISCHR(sb.st_mode))
		return prov_err_set(e, PROV_E_INPUT, "port %s: not a terminal", path);
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return prov_err_set(e, errno == ENOENT ? PROV_E_NOTFOUND : PROV_E_IO, "port %s: %s", path,
		                    strerror(errno));
	if (!isatty(fd)) {
		close(fd);
		return prov_err_set(e, PROV_E_INPUT, "port %s: not a terminal", path);
	}
	/* One station per line: a second prov on the same port would interleave. */
	if (ioctl(fd, TIOCEXCL) != 0 && errno != ENOTTY) {
		close(fd);
		return prov_err_set(e, PROV_E_IO, "port %s: cannot take it exclusively: %s", path,
		                    strerror(errno));
	}
	if (tcgetattr(fd, &t) != 0) {
		close(fd);
		return prov_err_set(e, PROV_E_IO, "port %s: %s", path, strerror(errno));
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(unsigned)(CSTOPB | PARENB | CRTSCTS);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (baud != 0 && (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0)) {
		close(fd);
		return prov_err_set(e, PROV_E_IO, "port %s: cannot set %u baud: %s", path, baud,
		                    strerror(errno));
	}
	if (tcsetattr(fd, TCSANOW, &t) != 0) {
		close(fd);
		return prov_err_set(e, PROV_E_IO, "port %s: cannot set raw mode: %s", path, strerror(errno));
	}
	tcflush(fd, TCIFLUSH);
	p->fd = fd;
	p->baud = baud;
	return PROV_OK;
}

void prov_smp_port_close(prov_smp_port *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static prov_status write_all(prov_smp_port *p, const uint8_t *b, size_t n, prov_err *e)
{
	long long deadline = now_ms() + 10000;

	while (n > 0) {
		ssize_t w = write(p->fd, b, n);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			p->bytes_out += (unsigned long long)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return prov_err_set(e, PROV_E_IO, "port %s: write: %s", p->path, strerror(errno));
		{
			struct pollfd pf = {p->fd, POLLOUT, 0};
			long long left = deadline - now_ms();

			if (left <= 0)
				return prov_err_set(e, PROV_E_IO, "port %s: write stalled for 10 s", p->path);
			poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
		}
	}
	return PROV_OK;
}

/* The next packet from the line, or 0 bytes at the deadline. */
static prov_status read_packet(prov_smp_port *p, long long deadline, const uint8_t **pkt,
                               size_t *len, prov_err *e)
{
	*pkt = NULL;
	*len = 0;
	for (;;) {
		if (p->in_pos < p->in_len) {
			p->in_pos += prov_smp_decoder_push(&p->dec, p->inbuf + p->in_pos, p->in_len - p->in_pos,
			                                   pkt, len);
			if (*pkt != NULL)
				return PROV_OK;
			continue;
		}
		{
			struct pollfd pf = {p->fd, POLLIN, 0};
			long long left = deadline - now_ms();
			ssize_t r;
			int pr;

			if (left <= 0)
				return PROV_OK;
			pr = poll(&pf, 1, (int)left);
			if (pr < 0 && errno != EINTR)
				return prov_err_set(e, PROV_E_IO, "port %s: poll: %s", p->path, strerror(errno));
			if (pr <= 0)
				continue;
			r = read(p->fd, p->inbuf, sizeof(p->inbuf));
			if (r > 0) {
				p->in_pos = 0;
				p->in_len = (size_t)r;
				p->bytes_in += (unsigned long long)r;
			} else if (r == 0 || errno == EIO) {
				/* A pty whose other side is gone (a device that reset): wait for it
				 * to come back rather than spin. */
				struct timespec ts = {0, 20 * 1000000};

				nanosleep(&ts, NULL);
			} else if (errno != EAGAIN && errno != EINTR) {
				return prov_err_set(e, PROV_E_IO, "port %s: read: %s", p->path, strerror(errno));
			}
		}
	}
}

prov_status prov_smp_request(prov_smp_port *p, unsigned op, unsigned group, unsigned id,
                             cbor_item_t *body, cbor_item_t **resp, int *dev_rc, prov_err *e)
{
	uint8_t *cb = NULL, *pkt = NULL, *frame = NULL;
	size_t cb_len = 0, frame_len = 0;
	prov_smp_hdr h;
	unsigned wait;
	unsigned long waited = 0;
	prov_status st;

	*resp = NULL;
	*dev_rc = 0;
	st = prov_cbor_encode(body, &cb, &cb_len, e);
	if (st != PROV_OK)
		return st;
	if (cb_len > 0xffff || cb_len + PROV_SMP_HDR_LEN > PROV_SMP_PKT_MAX) {
		st = prov_err_set(e, PROV_E_INTERNAL, "SMP body of %zu bytes is too large", cb_len);
		goto out;
	}
	pkt = malloc(cb_len + PROV_SMP_HDR_LEN);
	if (pkt == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	memset(&h, 0, sizeof(h));
	h.op = op;
	h.version = PROV_SMP_VERSION;
	h.len = (unsigned)cb_len;
	h.group = group;
	h.seq = p->seq++;
	h.id = id;
	prov_smp_hdr_put(&h, pkt);
	memcpy(pkt + PROV_SMP_HDR_LEN, cb, cb_len);
	st = prov_smp_frame_encode(pkt, cb_len + PROV_SMP_HDR_LEN, &frame, &frame_len, e);
	if (st != PROV_OK)
		goto out;
	p->requests++;
	wait = p->timeout_ms ? p->timeout_ms : 1;
	for (unsigned t = 0; t < (p->tries ? p->tries : 1); t++) {
		long long deadline;

		if (t > 0)
			p->retries++;
		st = write_all(p, frame, frame_len, e);
		if (st != PROV_OK)
			goto out;
		{
			/* The request and an answer of up to the same size cross the wire
			 * (10 bits a byte at 8N1) before the wait proper. */
			unsigned wire = p->baud ? (unsigned)((2 * frame_len + 256) * 10 * 1000 / p->baud) : 0;

			deadline = now_ms() + wait + wire;
			waited += wait + wire;
		}
		for (;;) {
			const uint8_t *rp;
			size_t rl;
			cbor_item_t *item = NULL;
			prov_err ae;

			st = read_packet(p, deadline, &rp, &rl, e);
			if (st != PROV_OK)
				goto out;
			if (rp == NULL)
				break;      /* timed out: send again */
			st = prov_smp_answer_decode(rp, rl, &h, &item, dev_rc, &ae);
			if (st != PROV_OK) {
				/* CRC-checked, so the device's own word: sending again cannot mend it */
				st = prov_err_set(e, st, "port %s: the device's answer (group %u command %u) is malformed: %s",
				                  p->path, group, id, ae.msg);
				goto out;
			}
			if (item == NULL)
				continue;   /* a stale or foreign answer */
			*resp = item;
			goto out;
		}
		if (wait < PROV_SMP_WAIT_MAX_MS)
			wait = wait * 2 > PROV_SMP_WAIT_MAX_MS ? PROV_SMP_WAIT_MAX_MS : wait * 2;
	}
	st = prov_err_set(e, PROV_E_IO,
	                  "port %s: no answer from the device (group %u command %u): timed out after %u tries over %.1f s",
	                  p->path, group, id, p->tries ? p->tries : 1, (double)waited / 1000.0);
out:
	free(cb);
	free(pkt);
	free(frame);
	return st;
}
