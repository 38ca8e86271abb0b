/* SPDX-License-Identifier: MIT */
/*
 * ism-pci driven as a guest driver would drive it, through ism's
 * vfio-user client (the test is the VMM and the guest), against a real
 * ismd, with a host process (the test again, through libism) on the other
 * side: allocate and share by token both ways, region contents moved by
 * DMA (guest memory mapped by fd, and by messages only), notifications
 * both ways with MSI-X, peers attaching and detaching, revocation seen by
 * the guest, every refusal of the command set, a faulting ring, kill -9
 * of the VMM mid-copy and of ism-pci itself mid-DMA (the other side
 * survives and takes a new peer), SIGTERM.
 */
#include "t_daemon.h"
#include "../../pci/ism_pci.h"

#include "util/util.h"

#include <ism/vfio_user_client.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GPA	0x100000000ull /* guest RAM at 4 GiB */
#define RAM	(32u << 20)
#define CQ_OFF	0x0
#define EQ_OFF	0x4000
#define BUF_OFF (1u << 20)
#define RING	64u

static char sock[128];
static pid_t pci_pid = -1;

static pid_t start_pci(const char *extra)
{
	char a1[200], a2[200];
	pid_t pid;

	snprintf(a1, sizeof(a1), "--socket-path=%s", sock);
	snprintf(a2, sizeof(a2), "--ism-socket=%s", t_group.sock);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(t_prog("ISM_PCI", "pci/ism-pci"), "ism-pci", a1, a2,
		      extra ? extra : "-v", (char *)NULL);
		_exit(127);
	}
	return pid;
}

struct guest {
	struct ism_vfu_client *c;
	uint8_t *ram;
	int ram_fd;
	int efd[2];
	uint32_t tail, ev_head;
};

static uint32_t reg(struct guest *g, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(ism_vfu_client_region_read(g->c, 0, off, &v, 4), 4);
	return v;
}

static void set_reg(struct guest *g, uint32_t off, uint32_t v)
{
	assert_int_equal(ism_vfu_client_region_write(g->c, 0, off, &v, 4), 4);
}

static void set_reg64(struct guest *g, uint32_t off, uint64_t v)
{
	assert_int_equal(ism_vfu_client_region_write(g->c, 0, off, &v, 8), 8);
}

static int try_connect(struct ism_vfu_client **c, uint32_t flags)
{
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .flags = flags,
					 .timeout_ms = 20000 };

	return ism_vfu_client_connect(sock, &o, c);
}

/* Connect (waiting for ism-pci to listen), set up guest RAM (mapped by
 * fd, or reached by messages only), the MSI-X eventfds and both rings. */
static void guest_init(struct guest *g, bool ram_fd)
{
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = GPA,
				     .len = RAM };

	memset(g, 0, sizeof(*g));
	/* ism-pci may not listen yet (T_WAIT_FOR would connect twice). */
	for (int i = 0; i < 2000 && try_connect(&g->c, 0); i++)
		t_msleep(5);
	assert_non_null(g->c);
	g->ram_fd = memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(g->ram_fd >= 0);
	assert_int_equal(ftruncate(g->ram_fd, RAM), 0);
	assert_int_equal(
		fcntl(g->ram_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	g->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, g->ram_fd,
		      0);
	assert_true(g->ram != MAP_FAILED);
	m.fd = ram_fd ? g->ram_fd : -1;
	m.vaddr = g->ram;
	assert_int_equal(ism_vfu_client_dma_map(g->c, &m), 0);
	for (int i = 0; i < 2; i++)
		g->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(ism_vfu_client_irq_eventfds(g->c, ISM_VFU_IRQ_MSIX, 0,
						     2, g->efd),
			 0);
	/* A driver's probe: reset, then the rings. */
	set_reg(g, ISM_PCI_R_RESET, 1);
	assert_int_equal(reg(g, ISM_PCI_R_MAGIC), ISM_PCI_MAGIC);
	assert_int_equal(reg(g, ISM_PCI_R_VERSION), ISM_PCI_VERSION);
	assert_true(reg(g, ISM_PCI_R_STATUS) & ISM_PCI_S_ISMD);
	set_reg64(g, ISM_PCI_R_CQ_BASE, GPA + CQ_OFF);
	set_reg(g, ISM_PCI_R_CQ_SIZE, RING);
	set_reg64(g, ISM_PCI_R_EQ_BASE, GPA + EQ_OFF);
	set_reg(g, ISM_PCI_R_EQ_SIZE, RING);
}

static void guest_fini(struct guest *g)
{
	ism_vfu_client_close(g->c);
	munmap(g->ram, RAM);
	close(g->ram_fd);
	close(g->efd[0]);
	close(g->efd[1]);
}

/* Wait (bounded) for vector @v, serving the device's DMA meanwhile. */
static bool wait_irq(struct guest *g, int v, int ms)
{
	uint64_t end = ism_now_ns() + (uint64_t)ms * 1000000u, x;

	while (ism_now_ns() < end) {
		struct pollfd p[2] = {
			{ .fd = g->efd[v], .events = POLLIN },
			{ .fd = ism_vfu_client_fd(g->c), .events = POLLIN },
		};

		poll(p, 2, 50);
		if (ism_vfu_client_process(g->c) < 0)
			return false;
		if (read(g->efd[v], &x, 8) == 8)
			return true;
	}
	return false;
}

struct cmd {
	uint16_t op;
	uint32_t handle, access;
	uint64_t arg0, arg1, arg2;
	uint8_t token[16];
	/* out */
	uint32_t status;
	uint64_t result;
};

/* Put @c in the ring and ring the doorbell.  Returns the entry. */
static uint8_t *post(struct guest *g, const struct cmd *c)
{
	uint8_t *e = g->ram + CQ_OFF + (g->tail % RING) * ISM_PCI_CMD_SIZE;

	memset(e, 0, ISM_PCI_CMD_SIZE);
	memcpy(e + ISM_PCI_C_OPCODE, &c->op, 2);
	memcpy(e + ISM_PCI_C_HANDLE, &c->handle, 4);
	memcpy(e + ISM_PCI_C_ACCESS, &c->access, 4);
	memcpy(e + ISM_PCI_C_ARG0, &c->arg0, 8);
	memcpy(e + ISM_PCI_C_ARG1, &c->arg1, 8);
	memcpy(e + ISM_PCI_C_ARG2, &c->arg2, 8);
	memcpy(e + ISM_PCI_C_TOKEN, c->token, 16);
	memset(e + ISM_PCI_C_STATUS, 0xff, 4);
	set_reg(g, ISM_PCI_R_CQ_TAIL, ++g->tail);
	return e;
}

/* post(), wait for the command, read it back. */
static void run(struct guest *g, struct cmd *c)
{
	uint8_t *e = post(g, c);

	for (int i = 0; i < 400 && reg(g, ISM_PCI_R_CQ_HEAD) != g->tail; i++)
		wait_irq(g, ISM_PCI_VEC_CMD, 50);
	assert_int_equal(reg(g, ISM_PCI_R_CQ_HEAD), g->tail);
	assert_true(reg(g, ISM_PCI_R_IRQ_STATUS) & ISM_PCI_I_CMD);
	set_reg(g, ISM_PCI_R_IRQ_STATUS, ISM_PCI_I_CMD);
	memcpy(&c->status, e + ISM_PCI_C_STATUS, 4);
	memcpy(&c->handle, e + ISM_PCI_C_HANDLE, 4);
	memcpy(&c->access, e + ISM_PCI_C_ACCESS, 4);
	memcpy(c->token, e + ISM_PCI_C_TOKEN, 16);
	memcpy(&c->result, e + ISM_PCI_C_RESULT, 8);
}

/* The next event from the ring (waiting up to @ms); false if none. */
static bool next_event(struct guest *g, uint16_t *type, uint16_t *reason,
		       uint32_t *handle, uint64_t *value, int ms)
{
	uint8_t *e;

	for (int i = 0; i < ms / 50 && reg(g, ISM_PCI_R_EQ_TAIL) == g->ev_head;
	     i++)
		wait_irq(g, ISM_PCI_VEC_EVENT, 50);
	if (reg(g, ISM_PCI_R_EQ_TAIL) == g->ev_head)
		return false;
	e = g->ram + EQ_OFF + (g->ev_head % RING) * ISM_PCI_EV_SIZE;
	memcpy(type, e + ISM_PCI_E_TYPE, 2);
	memcpy(reason, e + ISM_PCI_E_REASON, 2);
	memcpy(handle, e + ISM_PCI_E_HANDLE, 4);
	memcpy(value, e + ISM_PCI_E_VALUE, 8);
	set_reg(g, ISM_PCI_R_EQ_HEAD, ++g->ev_head);
	return true;
}

/* Wait for an event of @want, skipping others. */
static bool expect_event(struct guest *g, uint16_t want, uint32_t handle,
			 uint64_t *value, uint16_t *reason)
{
	uint16_t t, r;
	uint32_t h;
	uint64_t v;

	while (next_event(g, &t, &r, &h, &v, 10000)) {
		if (t == want && h == handle) {
			if (value)
				*value = v;
			if (reason)
				*reason = r;
			return true;
		}
	}
	return false;
}

static void test_share(bool ram_fd)
{
	struct ism_conn *host = t_connect(&t_group, "host", 0);
	struct guest g;
	struct cmd c = { .op = ISM_PCI_OP_ALLOC,
			 .arg0 = 1 << 20,
			 .access = ISM_ACCESS_RW };
	struct ism_region *hr;
	struct ism_token tok;
	struct ism_event ev;
	uint64_t v;
	uint32_t h;
	char *hp;
	void *map;

	guest_init(&g, ram_fd);
	/* The guest allocates; the host attaches by its token. */
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.result, 1 << 20);
	h = c.handle;
	assert_true(h >= 1 && h <= ISM_PCI_MAX_HANDLES);
	memcpy(tok.b, c.token, 16);
	assert_int_equal(ism_region_attach(host, &tok, ISM_ACCESS_RW, 0, &hr),
			 0);
	assert_true(expect_event(&g, ISM_PCI_EV_ATTACHED, h, NULL, NULL));
	assert_int_equal(ism_region_map(hr, &map), 0);
	hp = map;
	/* Host writes and notifies; the guest gets the event (MSI-X) and
	 * reads the region into its memory by DMA. */
	memcpy(hp + 4096, "from the host", 14);
	assert_true(ism_region_notify(hr, 42) >= 1);
	assert_true(expect_event(&g, ISM_PCI_EV_NOTIFY, h, &v, NULL));
	assert_int_equal(v, 42);
	memset(g.ram + BUF_OFF, 0, 1 << 20);
	c = (struct cmd){ .op = ISM_PCI_OP_READ,
			  .handle = h,
			  .arg0 = 0,
			  .arg1 = GPA + BUF_OFF,
			  .arg2 = 1 << 20 };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.result, 1 << 20);
	assert_string_equal((char *)g.ram + BUF_OFF + 4096, "from the host");
	/* The guest writes (a pattern, 1 MiB) and notifies the host. */
	for (uint32_t i = 0; i < (1u << 20); i++)
		g.ram[BUF_OFF + i] = (uint8_t)(i * 31 + 1);
	c = (struct cmd){ .op = ISM_PCI_OP_WRITE,
			  .handle = h,
			  .arg0 = 0,
			  .arg1 = GPA + BUF_OFF,
			  .arg2 = 1 << 20 };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_memory_equal(hp, g.ram + BUF_OFF, 1 << 20);
	c = (struct cmd){ .op = ISM_PCI_OP_NOTIFY, .handle = h, .arg0 = 7 };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(t_wait_event(host, ISM_EV_NOTIFY, &ev, 10000), 1);
	assert_int_equal(ev.value, 7);
	/* INFO: the owner sees its token. */
	c = (struct cmd){ .op = ISM_PCI_OP_INFO, .handle = h };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.access, ISM_ACCESS_RW);
	assert_memory_equal(c.token, tok.b, 16);
	/* The host leaves; the guest hears; the guest destroys. */
	ism_region_close(hr);
	assert_true(expect_event(&g, ISM_PCI_EV_DETACHED, h, NULL, NULL));
	c = (struct cmd){ .op = ISM_PCI_OP_DETACH, .handle = h };
	run(&g, &c);
	assert_int_equal(c.status, EPERM); /* owners destroy */
	c = (struct cmd){ .op = ISM_PCI_OP_DESTROY, .handle = h };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	c = (struct cmd){ .op = ISM_PCI_OP_INFO, .handle = h };
	run(&g, &c);
	assert_int_equal(c.status, ENOENT);
	guest_fini(&g);
	ism_conn_close(host);
}

static void test_share_fd(void **state)
{
	(void)state;
	test_share(true);
}

static void test_share_nofd(void **state)
{
	(void)state;
	test_share(false);
}

/* A host region attached by the guest, read-only, then revoked. */
static void test_attach_revoke(void **state)
{
	struct ism_conn *host = t_connect(&t_group, "host", 0);
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW };
	struct ism_region *hr;
	struct ism_token tok;
	struct guest g;
	struct cmd c;
	uint16_t reason;
	uint32_t h;
	void *map;

	(void)state;
	guest_init(&g, false);
	assert_int_equal(ism_region_alloc(host, 65536, &o, &hr), 0);
	assert_int_equal(ism_region_map(hr, &map), 0);
	memcpy(map, "host region", 12);
	ism_region_token(hr, &tok);
	c = (struct cmd){ .op = ISM_PCI_OP_ATTACH, .access = ISM_ACCESS_RO };
	memcpy(c.token, tok.b, 16);
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.result, 65536);
	h = c.handle;
	c = (struct cmd){ .op = ISM_PCI_OP_READ,
			  .handle = h,
			  .arg1 = GPA + BUF_OFF,
			  .arg2 = 12 };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	assert_string_equal((char *)g.ram + BUF_OFF, "host region");
	/* Read-only: writes refused; its token is not the guest's to see. */
	c.op = ISM_PCI_OP_WRITE;
	run(&g, &c);
	assert_int_equal(c.status, EACCES);
	c = (struct cmd){ .op = ISM_PCI_OP_INFO, .handle = h };
	run(&g, &c);
	assert_int_equal(c.access, ISM_ACCESS_RO);
	for (int i = 0; i < 16; i++)
		assert_int_equal(c.token[i], 0);
	/* An administrator revokes it: the guest hears, and reads stop. */
	{
		struct ism_conn *admin = t_connect(&t_group, "admin", 0);

		assert_true(ism_conn_is_admin(admin));
		assert_true(ism_admin_destroy(admin, ism_region_id(hr)) >= 0);
		ism_conn_close(admin);
	}
	assert_true(expect_event(&g, ISM_PCI_EV_GONE, h, NULL, &reason));
	assert_int_equal(reason, ISM_GONE_REVOKED);
	c = (struct cmd){ .op = ISM_PCI_OP_READ,
			  .handle = h,
			  .arg1 = GPA + BUF_OFF,
			  .arg2 = 12 };
	run(&g, &c);
	assert_int_equal(c.status, ENOENT);
	c = (struct cmd){ .op = ISM_PCI_OP_DETACH, .handle = h };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	ism_region_close(hr);
	guest_fini(&g);
	ism_conn_close(host);
}

static void test_refusals(void **state)
{
	struct guest g;
	struct cmd c;
	uint32_t h;

	(void)state;
	guest_init(&g, true);
	c = (struct cmd){ .op = ISM_PCI_OP_READ, .handle = 9 };
	run(&g, &c);
	assert_int_equal(c.status, ENOENT);
	c = (struct cmd){ .op = ISM_PCI_OP_ALLOC, .arg0 = 4096, .access = 3 };
	run(&g, &c);
	assert_int_equal(c.status, EINVAL);
	c = (struct cmd){ .op = ISM_PCI_OP_ALLOC,
			  .arg0 = 1ull << 50,
			  .access = 1 };
	run(&g, &c);
	assert_int_equal(c.status, EINVAL);
	c = (struct cmd){ .op = ISM_PCI_OP_ATTACH, .access = 1 };
	memset(c.token, 0x41, 16);
	run(&g, &c);
	assert_int_equal(c.status, ENOENT);
	c = (struct cmd){ .op = 99 };
	run(&g, &c);
	assert_int_equal(c.status, EOPNOTSUPP);
	c = (struct cmd){ .op = ISM_PCI_OP_ALLOC, .arg0 = 8192, .access = 1 };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	h = c.handle;
	/* Out of the region; a guest address no window covers. */
	c = (struct cmd){ .op = ISM_PCI_OP_READ,
			  .handle = h,
			  .arg0 = 4096,
			  .arg1 = GPA + BUF_OFF,
			  .arg2 = 8192 };
	run(&g, &c);
	assert_int_equal(c.status, EINVAL);
	c = (struct cmd){
		.op = ISM_PCI_OP_READ, .handle = h, .arg1 = 0x1000, .arg2 = 16
	};
	run(&g, &c);
	assert_int_equal(c.status, EFAULT);
	c = (struct cmd){ .op = ISM_PCI_OP_READ,
			  .handle = h,
			  .arg1 = GPA + RAM - 8,
			  .arg2 = 16 };
	run(&g, &c);
	assert_int_equal(c.status, EFAULT);
	/* A doorbell past the ring: the ring stops, says why; a new ring
	 * size restarts it. */
	set_reg(&g, ISM_PCI_R_CQ_TAIL, g.tail + RING + 1);
	assert_true(T_WAIT_FOR(
		reg(&g, ISM_PCI_R_STATUS) & ISM_PCI_S_QUEUE_ERROR, 10000));
	assert_int_equal(reg(&g, ISM_PCI_R_QUEUE_ERROR), EINVAL);
	set_reg(&g, ISM_PCI_R_CQ_SIZE, RING);
	g.tail = 0;
	assert_false(reg(&g, ISM_PCI_R_STATUS) & ISM_PCI_S_QUEUE_ERROR);
	/* A ring where there is no guest memory: a fault, not a crash. */
	set_reg64(&g, ISM_PCI_R_CQ_BASE, 0x10000);
	set_reg(&g, ISM_PCI_R_CQ_TAIL, 1);
	assert_true(
		T_WAIT_FOR(reg(&g, ISM_PCI_R_QUEUE_ERROR) == EFAULT, 10000));
	set_reg64(&g, ISM_PCI_R_CQ_BASE, GPA + CQ_OFF);
	set_reg(&g, ISM_PCI_R_CQ_SIZE, RING);
	/* Registers: a bad size disables the ring; unknown ones read 0. */
	set_reg(&g, ISM_PCI_R_EQ_SIZE, 3);
	assert_int_equal(reg(&g, ISM_PCI_R_EQ_SIZE), 0);
	assert_int_equal(reg(&g, 0x800), 0);
	{
		uint16_t half;

		assert_int_equal(
			ism_vfu_client_region_read(g.c, 0, 0, &half, 2),
			-EINVAL);
	}
	/* Reset: the region goes (ismd frees it). */
	set_reg(&g, ISM_PCI_R_RESET, 1);
	assert_int_equal(reg(&g, ISM_PCI_R_CQ_SIZE), 0);
	guest_fini(&g);
}

/* The VMM dies (kill -9) in the middle of a large copy by messages:
 * ism-pci survives and serves the next VMM. */
static int vmm_child(void *arg)
{
	struct guest g;
	struct cmd c = { .op = ISM_PCI_OP_ALLOC,
			 .arg0 = 16 << 20,
			 .access = 1 };
	int *pipefd = arg;

	guest_init(&g, false);
	run(&g, &c);
	if (c.status)
		return 1;
	c = (struct cmd){ .op = ISM_PCI_OP_WRITE,
			  .handle = c.handle,
			  .arg1 = GPA,
			  .arg2 = 16 << 20 };
	/* Start the copy, tell the parent, and keep serving DMA. */
	post(&g, &c);
	if (write(pipefd[1], "x", 1) != 1)
		return 1;
	for (;;)
		wait_irq(&g, 0, 1000);
}

static void test_vmm_kill9(void **state)
{
	struct guest g;
	struct cmd c = { .op = ISM_PCI_OP_ALLOC, .arg0 = 4096, .access = 1 };
	int pfd[2];
	pid_t vmm;
	char x;

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	vmm = t_fork(vmm_child, pfd);
	assert_true(vmm > 0);
	assert_int_equal(read(pfd[0], &x, 1), 1);
	t_msleep(20); /* some of the copy under way */
	t_kill(vmm, SIGKILL);
	assert_int_equal(t_wait(vmm), 128 + SIGKILL);
	close(pfd[0]);
	close(pfd[1]);
	/* The next VMM: everything works. */
	guest_init(&g, true);
	run(&g, &c);
	assert_int_equal(c.status, 0);
	guest_fini(&g);
	assert_int_equal(waitpid(pci_pid, NULL, WNOHANG), 0);
}

/* ism-pci dies (kill -9) mid-DMA: the VMM sees the device gone, not a
 * hang; a new ism-pci on the same path takes the next connection. */
static void test_pci_kill9(void **state)
{
	struct guest g;
	struct cmd c = { .op = ISM_PCI_OP_ALLOC,
			 .arg0 = 16 << 20,
			 .access = 1 };
	uint32_t v = 0;

	(void)state;
	guest_init(&g, false);
	run(&g, &c);
	assert_int_equal(c.status, 0);
	c = (struct cmd){ .op = ISM_PCI_OP_READ,
			  .handle = c.handle,
			  .arg1 = GPA,
			  .arg2 = 16 << 20 };
	post(&g, &c);
	wait_irq(&g, 0, 20);
	t_kill(pci_pid, SIGKILL);
	assert_int_equal(t_wait(pci_pid), 128 + SIGKILL);
	pci_pid = -1;
	/* The client is broken, cleanly. */
	assert_true(
		T_WAIT_FOR(ism_vfu_client_process(g.c) == -ENOTCONN, 10000));
	assert_int_equal(ism_vfu_client_region_read(g.c, 0, 0, &v, 4),
			 -ENOTCONN);
	guest_fini(&g);
	/* A new one on the same (stale) path. */
	pci_pid = start_pci(NULL);
	guest_init(&g, true);
	c = (struct cmd){ .op = ISM_PCI_OP_ALLOC, .arg0 = 4096, .access = 1 };
	run(&g, &c);
	assert_int_equal(c.status, 0);
	guest_fini(&g);
}

static void test_sigterm(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(t_kill(pci_pid, SIGTERM), 0);
	assert_int_equal(t_wait(pci_pid), 0);
	pci_pid = -1;
	assert_int_equal(lstat(sock, &st), -1); /* its socket is gone */
	/* Usage errors and an unreachable ismd: one line, exit 2 and 3. */
	{
		pid_t pid = fork();

		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 2);
			execl(t_prog("ISM_PCI", "pci/ism-pci"), "ism-pci",
			      (char *)NULL);
			_exit(127);
		}
		assert_int_equal(t_wait(pid), 2);
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 2);
			execl(t_prog("ISM_PCI", "pci/ism-pci"), "ism-pci",
			      "--socket-path=/nonexistent/x.sock",
			      "--ism-socket=/nonexistent/ism.sock",
			      (char *)NULL);
			_exit(127);
		}
		assert_int_equal(t_wait(pid), 3);
	}
}

static int setup(void **state)
{
	int r = t_group_setup(state);

	if (r)
		return r;
	snprintf(sock, sizeof(sock), "%s/ism-pci-%d.sock", t_tmpdir(),
		 (int)getpid());
	pci_pid = start_pci(NULL);
	return pci_pid > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	if (pci_pid > 0) {
		t_kill(pci_pid, SIGKILL);
		t_wait(pci_pid);
	}
	unlink(sock);
	return t_group_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_fd),
		cmocka_unit_test(test_share_nofd),
		cmocka_unit_test(test_attach_revoke),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_vmm_kill9),
		cmocka_unit_test(test_pci_kill9),
		cmocka_unit_test(test_sigterm),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(cmocka_run_group_tests(tests, setup, teardown));
}
