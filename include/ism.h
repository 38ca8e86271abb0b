/* SPDX-License-Identifier: MIT */
/*
 * ism.h - umbrella header for libism.
 *
 *   #include <ism.h>        everything
 *   #include <ism/conn.h>   connections and events
 *   #include <ism/region.h> regions: alloc, attach, map, read/write, notify
 *   #include <ism/admin.h>  status, lists, watch, revoke
 *   #include <ism/ring.h>   a single-producer single-consumer ring
 *   #include <ism/chan.h>   a two-way message channel of two rings
 *   #include <ism/stream.h> TCP-compatible streams over shared memory
 *   #include <ism/ivshmem.h> members of ismd's ivshmem domains (QEMU)
 *   #include <ism/window.h> windows: reserved ranges others map into
 *   #include <ism/vhost_user.h> vhost-user VIRTIO Shared Memory Regions
 *   #include <ism/pool.h>   buffers inside one memory range, bounces
 *   #include <ism/vfio_user.h> a PCI device served over vfio-user
 *   #include <ism/vfio_user_client.h> the client side of vfio-user
 *
 * Every fallible function returns >= 0 on success and -errno on failure;
 * errno itself is never the channel for errors.
 */
#ifndef ISM_H
#define ISM_H

#include <ism/common.h>
#include <ism/conn.h>
#include <ism/region.h>
#include <ism/admin.h>
#include <ism/ring.h>
#include <ism/chan.h>
#include <ism/stream.h>
#include <ism/ivshmem.h>
#include <ism/window.h>
#include <ism/vhost_user.h>
#include <ism/pool.h>
#include <ism/vfio_user.h>
#include <ism/vfio_user_client.h>

#endif
