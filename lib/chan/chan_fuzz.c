/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: connect an honest channel end to a hostile region.  The
 * input is the other side's whole region (its channel header, its
 * consumer area for our direction, its producer area for ours), in a
 * sealed memfd of 1 to 8 pages chosen by the first byte's low 3 bits.
 * With bit 3 set, the region follows a page of padding in its memfd and
 * is connected as a placed part (ism_chan_connect_at): bits 4-5 give the
 * offset in pages it names (0-3: before, at, inside or past the region),
 * bits 6-7 the length (to the end, one page, the whole file, the region's
 * size).  The channel must refuse it at connect, or receive and send from
 * it without reading or writing outside its mappings, looping without
 * bound or crashing; a placed connect accepted outside the file aborts.
 */
#include "chan.h"

#include <ism/chan.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PLACED 0x08u

static int hostile_region(const uint8_t *data, size_t size)
{
	size_t len, pad;
	int fd;

	if (size < 1)
		return -1;
	len = 4096u * (1u + data[0] % 8u);
	pad = data[0] & PLACED ? 4096u : 0;
	data++;
	size--;
	fd = memfd_create("fuzz-peer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)(pad + len)) < 0 ||
	    pwrite(fd, data, size < len ? size : len, (off_t)pad) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ism_chan_opts o = { .size = sizeof(o),
				   .ring_size = 4096,
				   .spin_us = ISM_CHAN_NO_SPIN };
	struct ism_chan *ch;
	uint8_t buf[4096];
	int sv[2], region, r;

	if (ism_chan_local_create(&o, &ch) < 0)
		return 0;
	region = hostile_region(data, size);
	if (region < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		if (region >= 0)
			close(region);
		ism_chan_close(ch);
		return 0;
	}
	if (data[0] & PLACED) {
		uint64_t file = 4096u * (2u + data[0] % 8u);
		uint64_t lens[4] = { 0, 4096, file, file - 4096 };
		struct ism_chan_place at = {
			.size = sizeof(at),
			.kind = ISM_CHAN_PLACE_FD,
			.fd = region,
			.offset = 4096u * ((data[0] >> 4) & 3u),
			.len = lens[data[0] >> 6],
		};

		/* It takes sv[1] whatever happens; the fd stays ours. */
		r = ism_chan_connect_at(ch, &at, sv[1]);
		close(region);
		if (r == 0 && (at.offset >= file ||
			       (at.len && at.len > file - at.offset)))
			abort();
	} else {
		/* It takes region and sv[1] whatever happens. */
		r = ism_chan_local_connect(ch, region, sv[1]);
	}
	if (r == 0) {
		for (int i = 0; i < 64; i++) {
			const void *p;
			size_t len;
			ssize_t n;

			/* Its consumer index steers our sends. */
			r = ism_chan_send(ch, buf, (size_t)(i * 37) % 600,
					  ISM_F_DONTWAIT);
			if (r < 0 && r != -EAGAIN && r != -EPROTO &&
			    r != -EPIPE)
				abort();
			if ((i & 3) == 2) {
				/* An event loop's receive, look, arm and
				 * disarm, all reading its memory. */
				int a = ism_chan_rx_ready(ch),
				    b = ism_chan_arm_rx(ch),
				    c = ism_chan_disarm_rx(ch);

				if (a > 1 || b > 1 || c > 1 ||
				    (a < 0 && a != -EPROTO) ||
				    (b < 0 && b != -EPROTO) ||
				    (c < 0 && c != -EPROTO))
					abort();
				n = ism_chan_peek(ch, &p, &len,
						  ISM_F_DONTWAIT | ISM_F_NOARM);
				if (n == 0)
					ism_chan_release(ch);
			} else if (i & 1) {
				n = ism_chan_recv(ch, buf, sizeof(buf),
						  ISM_F_DONTWAIT);
			} else {
				n = ism_chan_peek(ch, &p, &len, ISM_F_DONTWAIT);
				if (n == 0) { /* a message, in place */
					if (len > ism_chan_max_msg(ch))
						abort();
					memcpy(buf, p, len);
					ism_chan_release(ch);
				}
			}
			if (n == -EPROTO || n == -EPIPE || n == -ESHUTDOWN)
				break;
			if (n < 0 && n != -EAGAIN && n != -EMSGSIZE)
				abort();
		}
	}
	close(sv[0]);
	ism_chan_close(ch);
	return 0;
}
