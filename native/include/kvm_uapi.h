/*
 * kvm_uapi.h — the kernel's KVM structs and constants that hvrt.h's API uses, under the kernel's
 * own names.
 *
 * They are the kernel's definitions, not hvrt's: this header includes <linux/kvm.h> and
 * <linux/kvm_para.h> when the system has them and uses what they define; what they lack (an
 * older <linux/kvm.h>, e.g. Debian 12's 6.1 one, has no region2, memory attributes or memory
 * fault exit; no <linux/kvm.h> at all) is declared here, each under the kernel's #define guard,
 * binary-identical to the kernel's (static asserts on every size and offset, with either
 * source). A pointer to the kernel's struct is passed to hvrt as is.
 *
 * hvrt.h includes it; it can be included on its own too. C and C++ (C11, C++11 and later).
 */
#ifndef HVRT_KVM_UAPI_H
#define HVRT_KVM_UAPI_H

#include <stddef.h>
#include <stdint.h>
#if defined(__has_include)
#if __has_include(<linux/kvm.h>)
#include <linux/kvm.h>
#endif
#endif

#ifndef HVRT_STATIC_ASSERT
#ifdef __cplusplus
#define HVRT_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define HVRT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
#endif

/* ---------------------------------------------------------------------------------------- */
/* Kernel structs (uapi), defined here only when <linux/kvm.h> is missing or older.          */

#ifndef KVM_SET_USER_MEMORY_REGION
/* KVM_SET_USER_MEMORY_REGION: 32 bytes. slot = as_id << 16 | slot id. */
struct kvm_userspace_memory_region {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr;
    uint64_t memory_size;     /* bytes; 0 deletes the slot */
    uint64_t userspace_addr;  /* start of the shared host memory */
};
#define KVM_MEM_LOG_DIRTY_PAGES (1UL << 0)
#define KVM_MEM_READONLY (1UL << 1)
#endif

#ifndef KVM_SET_USER_MEMORY_REGION2
/* KVM_SET_USER_MEMORY_REGION2 (Linux 6.8): 160 bytes, the first 32 as v1. */
struct kvm_userspace_memory_region2 {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t guest_memfd_offset;
    uint32_t guest_memfd;
    uint32_t pad1;
    uint64_t pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 0x40A0AE49
#endif
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1UL << 2)
#endif

/*
 * The 2022 fd-based private memory proposal (Chao Peng, v8 2/8): a v1 region followed by the
 * private file. Byte-identical to kvm_userspace_memory_region2; KVM_MEM_PRIVATE is bit 2 as
 * KVM_MEM_GUEST_MEMFD. No kernel shipped it, so it is always defined here.
 */
struct kvm_userspace_memory_region_ext {
    struct kvm_userspace_memory_region region;
    uint64_t private_offset;
    uint32_t private_fd;
    uint32_t pad1;
    uint64_t pad2[14];
};
#ifndef KVM_MEM_PRIVATE
#define KVM_MEM_PRIVATE (1UL << 2)
#endif

HVRT_STATIC_ASSERT(sizeof(struct kvm_userspace_memory_region) == 32, "kvm_userspace_memory_region size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region, slot) == 0, "region.slot");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region, flags) == 4, "region.flags");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region, guest_phys_addr) == 8, "region.guest_phys_addr");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region, memory_size) == 16, "region.memory_size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region, userspace_addr) == 24, "region.userspace_addr");
HVRT_STATIC_ASSERT(sizeof(struct kvm_userspace_memory_region2) == 160, "kvm_userspace_memory_region2 size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, slot) == 0, "region2.slot");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, flags) == 4, "region2.flags");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, guest_phys_addr) == 8, "region2.guest_phys_addr");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, memory_size) == 16, "region2.memory_size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, userspace_addr) == 24, "region2.userspace_addr");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, guest_memfd_offset) == 32, "region2.guest_memfd_offset");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, guest_memfd) == 40, "region2.guest_memfd");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, pad1) == 44, "region2.pad1");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region2, pad2) == 48, "region2.pad2");
HVRT_STATIC_ASSERT(sizeof(struct kvm_userspace_memory_region_ext) == 160, "kvm_userspace_memory_region_ext size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region_ext, region) == 0, "ext.region");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region_ext, private_offset) == 32, "ext.private_offset");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region_ext, private_fd) == 40, "ext.private_fd");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region_ext, pad1) == 44, "ext.pad1");
HVRT_STATIC_ASSERT(offsetof(struct kvm_userspace_memory_region_ext, pad2) == 48, "ext.pad2");

#ifndef KVM_MEMORY_ATTRIBUTE_PRIVATE
/* KVM_SET_MEMORY_ATTRIBUTES (Linux 6.8): 32 bytes. Debian 12's 6.1 header lacks it. */
struct kvm_memory_attributes {
    uint64_t address;    /* guest-physical byte address, 4 KiB aligned */
    uint64_t size;       /* bytes, 4 KiB aligned, != 0 */
    uint64_t attributes; /* KVM_MEMORY_ATTRIBUTE_* */
    uint64_t flags;      /* must be 0 */
};
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3)
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES
#define KVM_SET_MEMORY_ATTRIBUTES 0x4020AED2
#endif

HVRT_STATIC_ASSERT(sizeof(struct kvm_memory_attributes) == 32, "kvm_memory_attributes size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_memory_attributes, address) == 0, "memory_attributes.address");
HVRT_STATIC_ASSERT(offsetof(struct kvm_memory_attributes, size) == 8, "memory_attributes.size");
HVRT_STATIC_ASSERT(offsetof(struct kvm_memory_attributes, attributes) == 16, "memory_attributes.attributes");
HVRT_STATIC_ASSERT(offsetof(struct kvm_memory_attributes, flags) == 24, "memory_attributes.flags");
HVRT_STATIC_ASSERT(KVM_MEMORY_ATTRIBUTE_PRIVATE == 8, "KVM_MEMORY_ATTRIBUTE_PRIVATE");

/* Exits of the vCPU run loop (Linux 6.8 uapi; Debian 12's 6.1 header lacks the memory fault).
 * KVM_HC_MAP_GPA_RANGE, its attribute bits and the hypercall codes (KVM_EINVAL) come from
 * <linux/kvm_para.h> when it exists; the fallbacks below use the kernel's names and tokens. */
#if defined(__has_include)
#if __has_include(<linux/kvm_para.h>)
#include <linux/kvm_para.h>
#endif
#endif
#ifndef KVM_EXIT_HYPERCALL
#define KVM_EXIT_HYPERCALL 3
#endif
#ifndef KVM_EXIT_MMIO
#define KVM_EXIT_MMIO 6
#endif
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif
#ifndef KVM_MEMORY_EXIT_FLAG_PRIVATE
#define KVM_MEMORY_EXIT_FLAG_PRIVATE (1ULL << 3)
#endif
#ifndef KVM_HC_MAP_GPA_RANGE
#define KVM_HC_MAP_GPA_RANGE 12
#endif
#ifndef KVM_MAP_GPA_RANGE_PAGE_SZ_4K
#define KVM_MAP_GPA_RANGE_PAGE_SZ_4K 0
#define KVM_MAP_GPA_RANGE_PAGE_SZ_2M (1 << 0)
#define KVM_MAP_GPA_RANGE_PAGE_SZ_1G (1 << 1)
#define KVM_MAP_GPA_RANGE_ENC_STAT(n) (n << 4)
#define KVM_MAP_GPA_RANGE_ENCRYPTED KVM_MAP_GPA_RANGE_ENC_STAT(1)
#define KVM_MAP_GPA_RANGE_DECRYPTED KVM_MAP_GPA_RANGE_ENC_STAT(0)
#endif
#ifndef KVM_EINVAL
#define KVM_EINVAL 22 /* hypercall return codes are -KVM_E* (kvm_para.h: KVM_EINVAL = EINVAL) */
#endif
#ifndef KVM_EFAULT
#define KVM_EFAULT 14 /* EFAULT */
#endif

/* guest_memfd create flags (KVM_CREATE_GUEST_MEMFD; hvrt_create_guest_memfd passes them through). */
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP (1ull << 0)
#endif
#ifndef GUEST_MEMFD_FLAG_INIT_SHARED
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ull << 1)
#endif

#endif /* HVRT_KVM_UAPI_H */
