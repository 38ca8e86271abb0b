/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: connect an honest channel end to a hostile region.  The
 * input is the other side's whole region (its channel header, its
 * consumer area for our direction, its producer area for ours), in a
 * sealed memfd of 1 to 8 pages chosen by the first byte.  The channel
 * must refuse it at connect, or receive and send from it without reading
 * or writing outside its mappings, looping without bound or crashing.
 */
#include <ism/chan.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hostile_region(const uint8_t *data, size_t size)
{
	size_t len;
	int fd;

	if (size < 1)
		return -1;
	len = 4096u * (1u + data[0] % 8u);
	data++;
	size--;
	fd = memfd_create("fuzz-peer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    pwrite(fd, data, size < len ? size : len, 0) < 0 ||
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
	int sv[2], region;

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
	/* The channel takes region and sv[1] whatever happens. */
	if (ism_chan_local_connect(ch, region, sv[1]) == 0) {
		for (int i = 0; i < 64; i++) {
			const void *p;
			size_t len;
			ssize_t n;
			int r;

			/* Its consumer index steers our sends. */
			r = ism_chan_send(ch, buf, (size_t)(i * 37) % 600,
					  ISM_F_DONTWAIT);
			if (r < 0 && r != -EAGAIN && r != -EPROTO &&
			    r != -EPIPE)
				abort();
			if (i & 1) {
				n = ism_chan_recv(ch, buf, sizeof(buf),
						  ISM_F_DONTWAIT);
			} else {
				n = ism_chan_peek(ch, &p, &len, ISM_F_DONTWAIT);
				if (n == 1) {
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
