/*
 * hvrt.h — the C ABI of libhvrt.so, a guest-memory runtime for virtual machine monitors.
 *
 * This header is the specification: a function, struct, flag or code that is not here is not
 * part of the API. hvrt keeps a VMM's memory slots with exactly KVM's rules and answers
 * gfn → backing translations from any thread without locks.
 *
 * Conventions
 *   - Every function returning int returns 0 on success or a negative Linux errno
 *     (-EINVAL, -EEXIST, ...): for the same input the same errno the kernel's ioctl gives.
 *     hvrt's own codes lie outside the errno range (HVRT_EINTERNAL). Nothing throws.
 *   - Out-parameters are written only on success.
 *   - A NULL pointer argument gives -EFAULT (as a bad user pointer does in an ioctl); an
 *     hvrt_vm pointer that is not a live VM, an hvrt_reader pointer that is not a registered
 *     reader, or an hvrt_vcpu pointer that is not a live vCPU, gives -EBADF (as a bad fd does),
 *     checked before the other arguments (as an ioctl resolves its fd first). A pointer to
 *     destroyed memory is refused for sure only in debug mode (see "Threading and lifetime
 *     rules").
 *   - Kernel structs are the kernel's own: kvm_uapi.h (included here) includes <linux/kvm.h>
 *     when it exists and defines only what an older <linux/kvm.h> lacks, under the kernel's
 *     names, with static asserts on size and every offset. A pointer to the kernel's struct is
 *     passed as is.
 *   - Test-only exports (fault injection) are in hvrt_testing.h, also included here.
 *
 * Versions: HVRT_ABI_VERSION changes on any incompatible change of a signature or layout;
 * compare it with hvrt_abi_version() at start-up. Same ABI version = binary compatible.
 *
 * Threading, lifetimes, debug mode, file descriptors and size limits: "Threading and lifetime
 * rules", below the error codes.
 */
#ifndef HVRT_H
#define HVRT_H

#include <stddef.h>
#include <stdint.h>
/* The kernel's structs and constants (<linux/kvm.h> where the system has it, the rest declared
 * there), and HVRT_STATIC_ASSERT (static_assert in C++, _Static_assert in C). */
#include "kvm_uapi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Versions                                                                                  */

#define HVRT_ABI_VERSION 1u
#define HVRT_VERSION_MAJOR 0
#define HVRT_VERSION_MINOR 2
#define HVRT_VERSION_PATCH 0
#define HVRT_VERSION_NUMBER (HVRT_VERSION_MAJOR * 1000000 + HVRT_VERSION_MINOR * 1000 + HVRT_VERSION_PATCH)

/* The ABI version of the loaded library; equal to HVRT_ABI_VERSION when header and .so match. */
uint32_t hvrt_abi_version(void);
/* HVRT_VERSION_NUMBER of the loaded library. */
uint32_t hvrt_version_number(void);

/* ---------------------------------------------------------------------------------------- */
/* Error codes: negative Linux errno values, plus hvrt's own outside the errno range.        */

/* One list for the codes, their names and their texts (libuv's UV_ERRNO_MAP):
 * XX(NAME, value, text) */
#define HVRT_ERRNO_MAP(XX)                                                                      \
    XX(OK, 0, "success")                                                                       \
    XX(EPERM, -1, "the reader is offline (call hvrt_reader_online first), or (HVRT_DEBUG) not this thread's vCPU") \
    XX(ENOENT, -2, "no slot holds this guest frame")                                           \
    XX(E2BIG, -7, "config struct too large or with unknown non-zero fields")                   \
    XX(EBADF, -9, "not a live hvrt VM, reader or vCPU, or a private fd that is not open")      \
    XX(ENOMEM, -12, "out of memory")                                                           \
    XX(EACCES, -13, "a discard was refused: the shared memory is a private or read-only file mapping") \
    XX(EFAULT, -14, "NULL pointer argument")                                                   \
    XX(EEXIST, -17, "already there: an overlapping slot, or a listener added twice")         \
    XX(EINVAL, -22, "invalid argument (as KVM would refuse it)")                               \
    XX(EMFILE, -24, "too many open files: the private fd could not be duplicated")             \
    XX(EDEADLK, -35, "a change of the VM from inside its own conversion listener")             \
    XX(EINTR, -4, "interrupted by a signal (KVM_RUN, fallocate)")                              \
    XX(EIO, -5, "I/O error reported by the kernel")                                            \
    XX(ENXIO, -6, "no dirty bitmap: the bound VM logs dirty pages in a ring")                   \
    XX(EAGAIN, -11, "try again (the kernel asked for a retry)")                                 \
    XX(EBUSY, -16, "busy: already bound, readers still registered, or (HVRT_DEBUG) a reader in use by another thread") \
    XX(ENODEV, -19, "not supported by this KVM (no such capability or device)")                 \
    XX(ENOTTY, -25, "not a KVM VM fd (the ioctl is unknown to the fd)")                         \
    XX(ENOSYS, -38, "not implemented by this KVM")                                              \
    XX(EOPNOTSUPP, -95, "operation not supported on this file or VM")                           \
    XX(EHWPOISON, -133, "memory failure: the page is poisoned")                                 \
    XX(EINTERNAL, -4000, "internal hvrt error (a bug)")

/* HVRT_OK 0, HVRT_ENOENT (-2), ...: what each means for a given call is in its comment.
 *   EPERM     a reader call that needs an online reader on an offline one; debug mode: a vCPU,
 *             or its reader, used from a thread other than the vCPU's
 *   ENOENT    translate / max_mapping_level: the gfn is in no slot; deleting no slot is EINVAL
 *             (as KVM); removing a conversion listener that is not registered
 *   E2BIG     a config struct with a non-zero tail this library does not know, or over 4096 bytes
 *   EBADF     not a live hvrt_vm, hvrt_reader or hvrt_vcpu; a private fd that is not open (also
 *             hvrt's own duplicate, if the VMM closed it); a KVM fd the VMM closed while bound
 *   ENOMEM    out of memory; nothing was changed
 *   EFAULT    a NULL pointer argument
 *   EEXIST    the new slot's gfn range overlaps another slot of its address space; a
 *             conversion listener (cb, ctx) added twice
 *   EINVAL    any argument KVM refuses (slots: hvrt_set_user_memory_region2; attributes:
 *             hvrt_set_memory_attributes); an out-of-range as_id; a range that wraps or ends
 *             before it starts; unknown flag bits
 *   EMFILE    hvrt could not duplicate a private fd (process fd limit)
 *   EACCES    hvrt_convert: madvise(MADV_REMOVE) refused (a MAP_PRIVATE or read-only file mapping)
 *   EDEADLK   a slot, attribute or conversion change, or hvrt_vm_destroy_checked, called from a
 *             conversion listener
 *   EINTR, EIO, EAGAIN, EHWPOISON  passed through from the kernel (KVM ioctls, fallocate)
 *   ENXIO     dirty log: the bound VM logs dirty pages in a ring, not in bitmaps (as KVM)
 *   EBUSY     hvrt_kvm_bind on a VM that is already bound; hvrt_vm_destroy_checked while a
 *             reader or vCPU is registered; debug mode: a reader call while another thread is
 *             inside a call with the same reader
 *   ENODEV    the bound KVM lacks what the call needs (e.g. guest_memfd); hvrt_kvm_* without
 *             a bound VM fd
 *   ENOTTY    hvrt_kvm_bind: the fd is not a KVM VM fd
 *   ENOSYS, EOPNOTSUPP  passed through from KVM or the file (e.g. fallocate on a file that
 *             cannot punch holes)
 *   EINTERNAL an internal failure hvrt caught (outside the errno range); a bug, please report */
enum hvrt_status {
#define HVRT_STATUS_ENUM(name, value, text) HVRT_##name = (value),
    HVRT_ERRNO_MAP(HVRT_STATUS_ENUM)
#undef HVRT_STATUS_ENUM
};

/* Static text for a code (never NULL; "unknown error" for a code not in HVRT_ERRNO_MAP). */
const char *hvrt_strerror(int code);
/* The code's name without the prefix ("EINVAL"), or "UNKNOWN". */
const char *hvrt_errname(int code);

/* ---------------------------------------------------------------------------------------- */
/* Threading and lifetime rules                                                              */
/*
 * Handles. hvrt_vm lives from hvrt_vm_create to hvrt_vm_destroy(_checked); hvrt_reader from
 * hvrt_reader_register to hvrt_reader_unregister or its VM's destroy; hvrt_vcpu from
 * hvrt_vcpu_create to hvrt_vcpu_destroy, and hvrt_vcpu_reader's reader as long as its vCPU. A
 * conversion listener is a (cb, ctx) pair, not a handle. What else hvrt hands out lives as its
 * call says: a translation's private_fd until its slot is deleted, a dirty-log view until the
 * next harvest or change of its slot (the hva is the VMM's own memory).
 *
 * Which calls may run at the same time:
 *   - Every call on a VM may run on any thread, concurrently with any other call on it, except
 *     hvrt_vm_destroy(_checked): nothing may run on the VM, its readers or its vCPUs during it
 *     or after it (hvrt cannot check a call that races with the destroy, even in debug mode).
 *   - Changes (slots, attributes, hvrt_convert, discard policy, dirty-log mode, get and clear,
 *     bind, listeners) are serialized by the VM's lock; queries (translate, find_slots,
 *     attribute queries, hvrt_mark_dirty, the sequence) take no lock and run alongside them.
 *   - A reader is used by one thread at a time: two calls with the same hvrt_reader (including
 *     hvrt_inline.h's lookups with it) must not overlap. It may move between threads, online or
 *     offline, with a hand-off that orders memory (a mutex, a channel, pthread_create).
 *   - A vCPU, and its reader, belong to the thread that created the vCPU: hvrt_vcpu_enter, _exit,
 *     _handle_exit, _exit_info, _run, and hvrt_reader_* with hvrt_vcpu_reader's reader, run on
 *     that thread only. hvrt_vcpu_destroy may run on any thread once that thread no longer uses
 *     the vCPU (e.g. after joining it).
 *   - A thread whose reader is online must not change slots (it would wait for itself; see
 *     "Registered readers"). A conversion listener may query and add or remove listeners; changes
 *     and destroys of its VM are refused there (-EDEADLK; hvrt_vm_destroy does nothing there).
 *
 * Order of destruction: unregister every reader and destroy every vCPU; then destroy the VM;
 * then close the KVM VM fd (hvrt never closes it) and unmap guest memory. hvrt_vm_destroy_checked
 * checks the first step (-EBUSY, nothing freed). hvrt_vm_destroy does not: it frees the readers
 * (vCPUs' included) with the VM, and a later call with one of them, or with a vCPU of that VM
 * (hvrt_vcpu_destroy included), reads freed memory in release mode.
 *
 * Stale handles in release mode: a handle used after its destroy or unregister is a bug hvrt
 * refuses with -EBADF only while the memory still holds the cleared magic: the allocator may give
 * it to a later create (or an unregistered reader's record to the next register of its VM), and
 * then the stale pointer is that new object. Debug mode makes this detectable.
 *
 * Debug mode: HVRT_DEBUG=1 in the environment, read once, at the first call that needs it (set
 * it before the first hvrt call). For testing and for hunting misuse; release-mode calls cost
 * nothing more for it (the checks hide behind the magic compare every handle already has).
 *   - Stale handles: destroyed VMs and vCPUs and unregistered readers, readers freed by a VM's
 *     destroy included, are poisoned and never freed or handed out again (64-136 bytes each, for
 *     the life of the process): every later call with one returns -EBADF (hvrt_vm_destroy,
 *     hvrt_vcpu_destroy: nothing; hvrt_vcpu_reader: NULL), never touches freed memory, and a
 *     later create never returns the same pointer.
 *   - A vCPU or its reader used from a thread other than the vCPU's: -EPERM, nothing done.
 *   - A reader used by two threads at once: a call that finds another thread inside a call with
 *     the same reader returns -EBUSY and does nothing (the other call goes on). Overlapping calls
 *     are what can be seen; a hand-off without ordering cannot be.
 *   Reader records grow to 128 bytes (the first 64, which hvrt_inline.h reads, are unchanged).
 *
 * File descriptors:
 *   - A private file (guest_memfd, memfd, any file of an _ext slot): hvrt keeps its own duplicate
 *     (one per file per VM), so the VMM may close its fd right after the slot call. That
 *     duplicate is the private_fd translations report: never close it. If the VMM does, calls
 *     that use it (hvrt_convert's fallocate to shared, hvrt_find_slots_by_private given it)
 *     fail with -EBADF and change nothing, and translations still report the number. hvrt
 *     checks that the fd still is its file (st_dev, st_ino) before it punches or closes it, so
 *     if the number was reused for another file meanwhile, hvrt_convert to shared returns
 *     -EBADF without touching that file and hvrt never closes it.
 *   - The KVM VM fd (hvrt_kvm_bind) and a vCPU fd (hvrt_vcpu_create) stay the VMM's: hvrt neither
 *     duplicates nor closes them. Closed while in use: every call that reaches KVM gets the
 *     kernel's -EBADF and changes nothing (a slot change leaves hvrt's slots as they were;
 *     hvrt_vcpu_run returns -EBADF); calls that do not reach KVM (translations, queries,
 *     hvrt_kvm_caps) go on.
 *
 * Sizes and counts: counts that must fit the int result (batches) are -EINVAL above INT32_MAX
 * before any array is read; capacities (cap, caps->size) only bound what is written; config
 * structs over 4096 bytes are -E2BIG; ranges are checked for wrap-around (-EINVAL) and cost what
 * their slots and attribute changes hold, not their length (all 2^52 gfns in one call is fine); a
 * slot has at most 2^31 - 1 pages (-EINVAL), and its dirty log, when on, two bitmaps of
 * npages / 8 bytes each (up to 512 MiB; -ENOMEM, nothing changed, when they cannot be
 * allocated); readers are limited by memory only (-ENOMEM), and each slot change waits for
 * every online one. Arrays must hold the count given: hvrt cannot check a pointer's extent.
 *
 * Pointers: NULL is refused with -EFAULT wherever a pointer is required. Any other invalid
 * pointer (unmapped, too short, freed) is the caller's bug, as with any C library: hvrt cannot
 * tell it from a valid one, and the access ends the process (the .NET runtime turns the fault
 * into a fatal error with a stack trace; it does not become an error code).
 */

/* ---------------------------------------------------------------------------------------- */
/* kvm_run's memory fault (the kernel's structs and constants are in kvm_uapi.h)             */

/*
 * struct kvm_run's memory_fault member (Linux 6.8), which Debian 12's struct kvm_run lacks: the
 * exit union starts at byte 32 of struct kvm_run on x86_64, so with any <linux/kvm.h>
 *     const struct hvrt_kvm_memory_fault *mf = HVRT_KVM_MEMORY_FAULT(run);
 * reads the same bytes as run->memory_fault on a newer header.
 */
struct hvrt_kvm_memory_fault {
    uint64_t flags; /* KVM_MEMORY_EXIT_FLAG_PRIVATE: the access was private */
    uint64_t gpa;
    uint64_t size;
};
#define HVRT_KVM_RUN_EXIT_UNION_OFFSET 32
#define HVRT_KVM_MEMORY_FAULT(run) \
    ((struct hvrt_kvm_memory_fault *)((char *)(run) + HVRT_KVM_RUN_EXIT_UNION_OFFSET))
HVRT_STATIC_ASSERT(sizeof(struct hvrt_kvm_memory_fault) == 24, "hvrt_kvm_memory_fault size");
#if defined(KVM_RUN) && defined(__x86_64__)
HVRT_STATIC_ASSERT(offsetof(struct kvm_run, exit_reason) == 8, "kvm_run.exit_reason");
HVRT_STATIC_ASSERT(offsetof(struct kvm_run, mmio) == HVRT_KVM_RUN_EXIT_UNION_OFFSET, "kvm_run exit union");
HVRT_STATIC_ASSERT(offsetof(struct kvm_run, mmio.len) == 48, "kvm_run.mmio.len");
HVRT_STATIC_ASSERT(offsetof(struct kvm_run, mmio.is_write) == 52, "kvm_run.mmio.is_write");
HVRT_STATIC_ASSERT(offsetof(struct kvm_run, hypercall.args) == 40, "kvm_run.hypercall.args");
HVRT_STATIC_ASSERT(offsetof(struct kvm_run, hypercall.ret) == 88, "kvm_run.hypercall.ret");
#endif

/* ---------------------------------------------------------------------------------------- */
/* VM                                                                                        */

typedef struct hvrt_vm hvrt_vm;

/* x86 KVM VM types (the type argument of KVM_CREATE_VM). */
#define HVRT_VM_TYPE_DEFAULT 0      /* KVM_X86_DEFAULT_VM */
#define HVRT_VM_TYPE_SW_PROTECTED 1 /* KVM_X86_SW_PROTECTED_VM */
#define HVRT_VM_TYPE_SEV 2          /* KVM_X86_SEV_VM */
#define HVRT_VM_TYPE_SEV_ES 3       /* KVM_X86_SEV_ES_VM */
#define HVRT_VM_TYPE_SNP 4          /* KVM_X86_SNP_VM */
#define HVRT_VM_TYPE_TDX 5          /* KVM_X86_TDX_VM */

/*
 * Kernel profiles: whose KVM rules a VM that is not bound follows. KVM's answer to the same
 * request changed between kernel versions; hvrt_vm_config.kvm_profile names the version, and 0
 * asks for the KVM of this host. A named profile is that version's source with every option
 * that changes the rules enabled (6.8 with CONFIG_KVM_SW_PROTECTED_VM, 6.12 with it and SEV). A
 * bound VM (hvrt_kvm_bind) keeps its profile for hvrt's own checks, and KVM has the last word.
 * The evidence for each row, with the source lines, is in docs/kvm-profiles.md.
 *
 *   what (x86-64)                     6.1     6.8     6.12    6.18    source
 *   KVM_SET_USER_MEMORY_REGION2       -ENOTTY yes     yes     yes     guest_memfd series, 6.8
 *     (hvrt_set_user_memory_region2; hvrt_set_user_memory_regions checks its entries as v1
 *      where it is missing, as a bound VM does where KVM lacks KVM_CAP_USER_MEMORY2)
 *   KVM_SET_MEMORY_ATTRIBUTES         -ENOTTY yes     yes     yes     6.8 (CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES)
 *     (hvrt_set_memory_attributes; PRIVATE only on SW_PROTECTED, SNP, TDX: kvm_supported_mem_attributes;
 *      -ENOTTY where the ioctl is missing: a -ENOTTY VM ioctl never reads its argument)
 *   VM types KVM_CREATE_VM takes      0       0-1     0-4     0-5     kvm_is_vm_type_supported: SW_PROTECTED
 *     (others: hvrt_vm_create -EINVAL)                                6.8, SEV/SEV-ES 6.10, SNP 6.11, TDX 6.16
 *   KVM_MEM_GUEST_MEMFD slot valid on never   private private every   check_memory_region_flags: 6.8-6.17
 *                                             types   types   type    kvm_arch_has_private_mem(kvm); 6.18
 *                                                                     d1e54dd08f16 IS_ENABLED(CONFIG_KVM_GUEST_MEMFD)
 *   READONLY slot valid when          always  no GMEM no GMEM, no protected state (SEV-ES, SNP, TDX)
 *                                                                     e563592224e0 (6.8-rc), 66155de93bcf (6.11)
 *   GUEST_MEMFD with LOG_DIRTY_PAGES  -EINVAL -EINVAL -EINVAL -EINVAL check_memory_region_flags
 *   address spaces (SMM)              2       2; 1 on private types   kvm_arch_nr_memslot_as_ids (6.8)
 *   guest_memfd range already bound   -       -EINVAL -EEXIST -EINVAL kvm_gmem_bind; -EEXIST is 7.2's 7ea987a90585,
 *                                                                     which Debian's 6.12 stable kernel carries (lab)
 *   bind end offset + size >= 2^63    -       passes  -EINVAL passes  signed loff_t sum; unsigned in 7.2's
 *                                                                     eba85fee7fc6, in Debian's 6.12 too (lab)
 *   clearing GUEST_MEMFD of a slot    -       -EINVAL (the stable fix 9935df5333aa: 6.12.64, 6.18.3;
 *                                             before it, and on 6.8.y, KVM returned 0)
 *   user memslots (KVM_CAP_NR_MEMSLOTS)  32764 in every profile
 * The 6.12 column is Debian's 6.12 stable kernel as the lab measures it: stable lines took 7.2's
 * two bind fixes (whether 6.18.y did is not measured here; the 6.18 column is 6.18.0's source).
 * Probed (kvm_profile 0), hvrt asks the host's KVM both bind rules directly, on a VM of the type
 * that takes guest_memfd slots: one page bound twice, and a bind whose end is 2^63.
 * Not modelled here: guest_memfd create flags (KVM decides them: hvrt_create_guest_memfd needs a
 * bound VM).
 *
 * kvm_profile = 0 (HVRT_KVM_PROFILE_HOST) probes /dev/kvm once per VM type and process: on
 * /dev/kvm KVM_CHECK_EXTENSION of KVM_CAP_USER_MEMORY2 (231), KVM_CAP_VM_TYPES (235),
 * KVM_CAP_GUEST_MEMFD_FLAGS (244), KVM_CAP_GUEST_MEMFD (234) and KVM_CAP_MEMORY_ATTRIBUTES (233);
 * then KVM_CREATE_VM of the configured type (closed at once) and, on that VM,
 * KVM_CAP_NR_MEMSLOTS (10) and KVM_CAP_MULTI_ADDRESS_SPACE (118). No REGION2 reads as 6.1;
 * REGION2 without GUEST_MEMFD_FLAGS as 6.12 (6.8's rules are the same for the types a host
 * offers); GUEST_MEMFD_FLAGS as 6.18. A kernel built without guest_memfd (KVM_CAP_GUEST_MEMFD 0
 * on /dev/kvm: no type takes a GUEST_MEMFD slot) or without memory attributes
 * (KVM_CAP_MEMORY_ATTRIBUTES 0 on /dev/kvm: hvrt_set_memory_attributes is -ENOTTY) is followed
 * as it is. The VM types are the host's (KVM_CAP_VM_TYPES; 0 from KVM: the default type only),
 * and so are the memslot count and the address spaces (0 from KVM: one, a KVM without SMM). So
 * a type this host's KVM refuses is -EINVAL here too. Without a usable /dev/kvm
 * (missing, not openable, or not answering KVM_CHECK_EXTENSION) 0 means HVRT_KVM_PROFILE_NEWEST
 * with every type it has.
 * hvrt_vm_kvm_profile tells which profile a VM follows; hvrt_kvm_profile_query what a profile
 * number resolves to on this host, before any VM exists.
 */
#define HVRT_KVM_PROFILE_HOST 0u        /* this host's KVM (probed), or the newest without one */
#define HVRT_KVM_PROFILE_6_1 0x0601u    /* (major << 8) | minor */
#define HVRT_KVM_PROFILE_6_8 0x0608u
#define HVRT_KVM_PROFILE_6_12 0x060cu
#define HVRT_KVM_PROFILE_6_18 0x0612u
#define HVRT_KVM_PROFILE_NEWEST HVRT_KVM_PROFILE_6_18

/*
 * Configuration of a VM: which kernel's and which KVM VM type's rules apply, and the host limits
 * KVM applies. Starts with its own size so it can grow: set size = sizeof(struct hvrt_vm_config).
 * A shorter struct from an older header gets defaults for the missing fields; a longer one from a
 * newer header must be zero past the fields this library knows (-E2BIG otherwise). Zero in any
 * field means "as KVM on this host".
 *
 * The VM type decides, as in KVM (x86; the profile decides which types exist, see above):
 *   type              address spaces  READONLY slots  private (bit 2) slots
 *   DEFAULT           2 (as_id 1=SMM) yes             from 6.18 (guest_memfd)
 *   SW_PROTECTED      1               yes             yes
 *   SEV               2               yes             from 6.18
 *   SEV_ES            2               no (6.11)       from 6.18
 *   SNP, TDX          1               no              yes
 * A private slot never allows READONLY or LOG_DIRTY_PAGES.
 */
struct hvrt_vm_config {
    uint32_t size;              /* sizeof(struct hvrt_vm_config); 8..4096 */
    uint32_t vm_type;           /* HVRT_VM_TYPE_*; one the profile's KVM does not take: -EINVAL */
    uint32_t nr_address_spaces; /* 0: the type's number (table above; probed: the host's KVM_CAP_
                                   MULTI_ADDRESS_SPACE on a VM of the type); may be lowered;
                                   more than the type has: -EINVAL */
    uint32_t max_user_slots;    /* 0: 32764 (x86 KVM_USER_MEM_SLOTS; probed: KVM_CAP_NR_MEMSLOTS);
                                   more: -EINVAL */
    uint32_t max_gpa_bits;      /* 0: like KVM on this host (MAXPHYADDR with EPT/NPT, else 52);
                                   a slot reaching past 2^bits: -EINVAL; 13..64 */
    uint32_t flags;             /* none defined: must be 0 */
    uint64_t user_addr_limit;   /* 0: this host's TASK_SIZE_MAX (2^47 - 4096, or 2^56 - 4096 with
                                   5-level paging); userspace_addr + memory_size may not pass it;
                                   page aligned */
    uint32_t kvm_profile;       /* HVRT_KVM_PROFILE_*: 0 this host's KVM; an unknown number: -EINVAL */
    uint32_t reserved32;        /* must be 0 */
    uint64_t reserved[3];       /* must be 0 */
};
HVRT_STATIC_ASSERT(sizeof(struct hvrt_vm_config) == 64, "hvrt_vm_config size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_vm_config, user_addr_limit) == 24, "hvrt_vm_config.user_addr_limit");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_vm_config, kvm_profile) == 32, "hvrt_vm_config.kvm_profile");

/* Where a VM's profile came from (hvrt_kvm_profile.source). */
#define HVRT_PROFILE_FROM_CONFIG 1u /* kvm_profile named it */
#define HVRT_PROFILE_FROM_PROBE 2u  /* kvm_profile 0: probed from this host's /dev/kvm */
#define HVRT_PROFILE_FROM_NO_KVM 3u /* kvm_profile 0 and no usable /dev/kvm: the newest */

/* What a profile offers a VM of one type (hvrt_kvm_profile.features). */
#define HVRT_PROFILE_F_REGION2 (1ull << 0)           /* KVM_SET_USER_MEMORY_REGION2 exists */
#define HVRT_PROFILE_F_GUEST_MEMFD (1ull << 1)       /* KVM_CREATE_GUEST_MEMFD exists */
#define HVRT_PROFILE_F_PRIVATE_SLOTS (1ull << 2)     /* KVM_MEM_GUEST_MEMFD slots on this type */
#define HVRT_PROFILE_F_MEMORY_ATTRIBUTES (1ull << 3) /* KVM_SET_MEMORY_ATTRIBUTES exists */
#define HVRT_PROFILE_F_PRIVATE_ATTRIBUTE (1ull << 4) /* ... and takes PRIVATE on this type */
#define HVRT_PROFILE_F_READONLY (1ull << 5)          /* READONLY slots on this type */

/* The kernel profile of a VM, or of a profile number on this host. */
struct hvrt_kvm_profile {
    uint32_t size;     /* in: sizeof(struct hvrt_kvm_profile), at least 8; out: the bytes hvrt
                          wrote, min(in, 48); bytes past them are left untouched */
    uint32_t profile;  /* HVRT_KVM_PROFILE_* (never 0) */
    uint32_t source;   /* HVRT_PROFILE_FROM_* */
    uint32_t vm_types; /* bit t: a VM of type t can be created under this profile (here) */
    uint64_t features; /* HVRT_PROFILE_F_*, for the VM's type (the queried type) */
    uint64_t reserved[3]; /* written as 0 */
};
HVRT_STATIC_ASSERT(sizeof(struct hvrt_kvm_profile) == 48, "hvrt_kvm_profile size");

/*
 * Creates a VM with no slots. cfg NULL: a default x86 KVM VM (2 address spaces, 32764 user
 * slots per address space, this host's limits). On success *out is the new VM.
 * Errors: -EFAULT out is NULL; -EINVAL a config field out of range or size < 8, an unknown
 * kvm_profile, or a vm_type the profile's KVM does not take; -E2BIG size > 4096, or a non-zero
 * byte past the fields this library knows; -ENOMEM; with kvm_profile 0, the first create of a
 * type in a process probes /dev/kvm (see "Kernel profiles") and may return that probe's -errno.
 */
int hvrt_vm_create(const struct hvrt_vm_config *cfg, hvrt_vm **out);

/*
 * The kernel profile vm follows, for its VM type (min(out->size, 48) bytes; out->size becomes
 * that count). Errors: -EFAULT vm or out NULL; -EBADF vm not live; -EINVAL out->size < 8.
 * Thread-safety: any thread, concurrently with anything but the VM's destroy; no syscall (the
 * profile is fixed at hvrt_vm_create).
 */
int hvrt_vm_kvm_profile(hvrt_vm *vm, struct hvrt_kvm_profile *out);

/*
 * What kvm_profile = profile resolves to on this host for a VM of vm_type, without creating one
 * (profile 0 probes /dev/kvm as hvrt_vm_create would, once per type and process). vm_types says
 * whether hvrt_vm_create would take the type. Errors: -EFAULT out NULL; -EINVAL vm_type >= 32,
 * an unknown profile or out->size < 8; the probe's -errno (e.g. -EMFILE), not remembered.
 * Thread-safety: any thread; probes of one process are serialized (one lock), and after a type's
 * first successful probe the call makes no syscall. The probe's syscalls: open of /dev/kvm,
 * ioctl (KVM_CHECK_EXTENSION, KVM_CREATE_VM, and on a type with guest_memfd slots
 * KVM_CREATE_GUEST_MEMFD and KVM_SET_USER_MEMORY_REGION2), close. hvrt_vm_create with
 * kvm_profile 0 makes the same ones, the first time a type is created in the process.
 */
int hvrt_kvm_profile_query(uint32_t profile, uint32_t vm_type, struct hvrt_kvm_profile *out);

/*
 * Destroys a VM: frees its memory, its readers' records (vCPUs' readers included) and closes
 * hvrt's duplicates of every private fd. NULL or an already destroyed VM: no-op; called from
 * one of the VM's conversion listeners: no-op (the converting thread is walking the VM). No
 * other call on this VM, its readers or vCPUs may run concurrently or follow (see "Threading
 * and lifetime rules"): unregister readers and destroy vCPUs first, or use
 * hvrt_vm_destroy_checked, which refuses while they exist.
 */
void hvrt_vm_destroy(hvrt_vm *vm);

/*
 * hvrt_vm_destroy that checks the order of destruction first. A VMM that can reach the destroy
 * with a reader still registered (a device thread that has not stopped) gets an error instead of
 * that thread's use-after-free, and can retry once it stopped. (A separate call, so that
 * hvrt_vm_destroy keeps its contract of always freeing: a VMM that unregisters nothing at exit
 * does not start leaking VMs.)
 * Errors, nothing freed: -EFAULT vm NULL; -EBADF vm not live (destroyed: also in debug mode);
 * -EDEADLK called from one of the VM's conversion listeners; -EBUSY a reader (a vCPU's
 * included) is registered, online or offline.
 */
int hvrt_vm_destroy_checked(hvrt_vm *vm);

/* ---------------------------------------------------------------------------------------- */
/* Memory slots                                                                              */

/*
 * KVM_SET_USER_MEMORY_REGION2 with mainline rules: creates, deletes (memory_size 0), moves
 * (new guest_phys_addr) or changes the flags of (LOG_DIRTY_PAGES) slot `slot & 0xffff` of
 * address space `slot >> 16`. The same checks in the same order as the kernel's
 * kvm_set_memory_region (the VM's kernel profile's, 6.18 by default: see "Kernel profiles"),
 * so the same input gives the same errno:
 *   -ENOTTY  the profile has no KVM_SET_USER_MEMORY_REGION2 (6.1); r is not read.
 *   -EINVAL  flags outside those allowed (LOG_DIRTY_PAGES; READONLY unless the VM type forbids
 *            it; KVM_MEM_GUEST_MEMFD if the type allows private memory; GUEST_MEMFD excludes
 *            READONLY and LOG_DIRTY_PAGES); memory_size, guest_phys_addr or userspace_addr not
 *            4 KiB aligned; userspace_addr + memory_size wraps or passes the user address limit;
 *            with GUEST_MEMFD, guest_memfd_offset unaligned or offset + size wrapping;
 *            address space or slot id out of range; guest_phys_addr + memory_size wrapping;
 *            more than 2^31 - 1 pages; deleting a slot that does not exist; changing
 *            userspace_addr, size or READONLY of an existing slot; any change but delete of a
 *            private slot (private slots are immutable); with GUEST_MEMFD, guest_memfd not a
 *            guest_memfd, offset + size past the file's size, or a page of the file already
 *            bound to a slot (in any address space); the slot's last gfn above max_gpa_bits.
 *            The end check is KVM's: (int64_t)guest_memfd_offset < 0 is -EINVAL, and so is
 *            (int64_t)(offset + size) > file size, computed with wrap-around as the kernel's
 *            loff_t is; an offset + size that wraps past 2^63 therefore passes, as in KVM.
 *   -EEXIST  a created or moved slot overlaps another slot of the same address space.
 *   -EBADF   GUEST_MEMFD and guest_memfd is not an open fd (checked after -EEXIST).
 *   -ENOMEM, -EMFILE (hvrt could not duplicate the fd).
 * A move takes the request's flags too (LOG_DIRTY_PAGES may change with it). Identical
 * requests to an existing non-private slot return 0 and change nothing. pad1/pad2 are ignored,
 * as KVM ignores them. On a private slot hvrt keeps its own duplicate of guest_memfd, one per
 * file (st_dev, st_ino) per VM, shared by all slots bound to that file and closed when the
 * last of them is deleted (after the grace period) or the VM destroyed: the caller may close
 * its fd at any time, and thousands of slots carved from one file cost one fd.
 * On any error nothing changes.
 */
int hvrt_set_user_memory_region2(hvrt_vm *vm, const struct kvm_userspace_memory_region2 *r);

/*
 * KVM_SET_USER_MEMORY_REGION (v1): as hvrt_set_user_memory_region2 on a zeroed region2 with
 * these 32 bytes, after KVM's v1 filter: any flag but LOG_DIRTY_PAGES and READONLY is -EINVAL.
 */
int hvrt_set_user_memory_region(hvrt_vm *vm, const struct kvm_userspace_memory_region *r);

/*
 * The 2022 proposal: KVM_MEM_PRIVATE (bit 2) with private_fd/private_offset. Same rules and
 * errno as hvrt_set_user_memory_region2, except that the private file may be a guest_memfd, a
 * memfd or any regular file (the seed design's inaccessible memfd), and that its end is checked
 * as private_offset + memory_size <= file size (st_size at the time of the call). A non-regular
 * file (pipe, socket, directory) is -EINVAL.
 */
int hvrt_set_user_memory_region_ext(hvrt_vm *vm, const struct kvm_userspace_memory_region_ext *r);

/*
 * Many slot changes, one publish: applies regions[0..n) in order, each with exactly the rules,
 * checks and errno of hvrt_set_user_memory_region2 as if it were called alone at that point
 * (where the VM's profile has no REGION2, those of hvrt_set_user_memory_region on the entry's
 * first 32 bytes)
 * (a later entry sees the effect of earlier ones: create then move the same slot works), then
 * publishes one new slot set per changed address space and waits one grace period for all of
 * them. Readers see either none of the batch or all of its applied entries, never a part.
 * A failing entry changes nothing and does not stop the others (no rollback of earlier ones).
 * The generation rises once per changed address space, not once per entry.
 * results: NULL, or n int32_t that receive each entry's code (0 or -errno).
 * Returns the number of entries applied (n when all succeeded), or:
 *   -EFAULT vm NULL, or regions NULL with n > 0; -EBADF vm not live; -EINVAL n > INT32_MAX.
 * Use it for VM start-up and for virtio-mem / DIMM hotplug that adds or removes many slots.
 */
int hvrt_set_user_memory_regions(hvrt_vm *vm, const struct kvm_userspace_memory_region2 *regions,
                                 size_t n, int32_t *results);

/* ---------------------------------------------------------------------------------------- */
/* Translation                                                                               */

#define HVRT_TR_PRIVATE 0x1u     /* the gfn's PRIVATE attribute is set (the guest sees the private file) */
#define HVRT_TR_READONLY 0x2u    /* the slot is KVM_MEM_READONLY */
#define HVRT_TR_LOG_DIRTY 0x4u   /* the slot logs dirty pages */
#define HVRT_TR_HAS_PRIVATE 0x8u /* the slot has a private backing (GUEST_MEMFD / PRIVATE) */

#define HVRT_GEN_UPDATE_IN_PROGRESS (1ull << 63) /* in hvrt_translation.generation, see there */

/* What hvrt_translate tells about one gfn: 64 bytes. */
struct hvrt_translation {
    uint32_t slot;          /* as_id << 16 | slot id, as in KVM */
    uint32_t flags;         /* HVRT_TR_* */
    uint64_t base_gfn;      /* the slot's first gfn */
    uint64_t npages;        /* the slot's size in pages */
    uint64_t hva;           /* userspace_addr + (gfn - base_gfn) * 4096 */
    uint64_t private_pgoff; /* page index of gfn inside private_fd (valid with HAS_PRIVATE, else 0) */
    int32_t private_fd;     /* hvrt's duplicate of the slot's private file (one per file, shared by
                               its slots), valid at least until the slot is deleted (do not close
                               it); -1 when the slot has no private backing */
    int32_t result;         /* 0 for a hit; -ENOENT (HVRT_ENOENT) for a gfn in no slot, which
                               only the batch calls report this way (every other field is then 0
                               except generation, the slot set's that was searched) */
    uint64_t run_pages;     /* pages from gfn up to the slot's end or the first page whose
                               attributes differ (>= 1); once the VM has had a private page,
                               at most 2^18 (1 GiB; ask again from gfn + run_pages), so a
                               lookup never scans far */
    uint64_t generation;    /* generation of the slot set that answered, numbered as KVM numbers
                               its memslot sets: starts at as_id and rises by the number of
                               address spaces with every change hvrt publishes (one per accepted
                               create, delete, move or flags change; KVM, which publishes twice
                               for delete and move, rises twice there), so generations differ
                               between address spaces; a no-op leaves it; a cache tagged with
                               it is stale once it changes. Bit 63 (HVRT_GEN_UPDATE_IN_PROGRESS,
                               KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS) is set on a slot set while its
                               successor is being published: an answer carrying it came from a
                               set that is being replaced, and its generation equals no later
                               one, so a cache tagged with it never matches again */
};
HVRT_STATIC_ASSERT(sizeof(struct hvrt_translation) == 64, "hvrt_translation size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, slot) == 0, "hvrt_translation.slot");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, flags) == 4, "hvrt_translation.flags");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, base_gfn) == 8, "hvrt_translation.base_gfn");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, npages) == 16, "hvrt_translation.npages");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, hva) == 24, "hvrt_translation.hva");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, private_pgoff) == 32, "hvrt_translation.private_pgoff");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, private_fd) == 40, "hvrt_translation.private_fd");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, result) == 44, "hvrt_translation.result");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, run_pages) == 48, "hvrt_translation.run_pages");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_translation, generation) == 56, "hvrt_translation.generation");

/*
 * Translates gfn of address space as_id. Lock-free and allocation-free; safe from any number
 * of threads at once, concurrently with slot updates, with no registration: the answer comes
 * from one consistent slot set (never a mix of two). On success out->result is 0.
 * Errors: -EFAULT vm or out NULL; -EBADF vm not live; -EINVAL as_id >= the VM's number of
 * address spaces; -ENOENT gfn in no slot (out untouched); -ENOMEM only on a thread's first
 * call, if hvrt could not allocate the thread's 64-byte read-section record.
 * Cost: a read section is two plain stores on a per-thread record (userspace-rcu's memb
 * flavor: slot updates pay for it with one membarrier(2) per change), and the thread's last hit
 * is checked before a search, so this call costs the C-to-library transition (~7 ns) plus a
 * range check or a search; hvrt_reader_translate saves the section, hvrt_inline.h the
 * transition too.
 */
int hvrt_translate(hvrt_vm *vm, uint32_t as_id, uint64_t gfn, struct hvrt_translation *out);

/*
 * Translates gfns[0..n) of address space as_id into out[0..n), all from one slot set (one read
 * section for the whole batch, so a long batch delays slot updates by its length). Each entry's
 * result is 0 (a hit, fields as hvrt_translate writes them) or HVRT_ENOENT (a miss: every other
 * field 0 except generation). The previous hit's slot is tried before a search, so runs of
 * nearby gfns are cheap. Same threading as hvrt_translate; no registration.
 * Returns the number of hits (0..n), or, checked in this order: -EFAULT vm NULL; -EBADF vm not
 * live; -EINVAL as_id >= the VM's number of address spaces; 0 when n == 0 (gfns and out are
 * then not looked at); -EINVAL n > INT32_MAX (the count must fit the int result; this covers
 * every n for which n * 64 bytes overflows); -EFAULT gfns or out NULL. On an error out is
 * untouched.
 */
int hvrt_translate_batch(hvrt_vm *vm, uint32_t as_id, const uint64_t *gfns, size_t n,
                         struct hvrt_translation *out);

/* ---------------------------------------------------------------------------------------- */
/* Registered readers (QSBR)                                                                 */

/*
 * A registered reader translates without a read section: its cost is an acquire load and a
 * search (or a check of its last hit). In exchange it reports, now and then, that it holds no
 * translation (userspace RCU's QSBR flavour):
 *
 *   - A reader is online (it may translate) or offline. hvrt_reader_register returns it online.
 *   - Translations (hva, private_fd, ...) an online reader obtained stay valid until that
 *     reader's next hvrt_reader_quiescent, hvrt_reader_offline or hvrt_reader_unregister.
 *   - A slot change (create, delete, move, flags) returns only after every online reader has
 *     passed a quiescent state (or gone offline) and every hvrt_translate begun before it has
 *     finished: KVM's synchronize_srcu semantics. After a delete returns, the VMM may munmap the
 *     slot's memory; no reader still uses it.
 *   - Offline readers never delay slot changes: a vCPU thread goes offline around KVM_RUN (and
 *     any other blocking call) and online after it. An online reader that never quiesces blocks
 *     every slot change forever; so does a thread that changes slots while its own reader is
 *     online (it waits for itself): go offline first.
 *   - A reader is used by one thread at a time (it may move between threads with a hand-off
 *     that orders memory, e.g. a mutex). Different readers may run on different threads at once.
 *     A vCPU's reader stays on the vCPU's thread.
 *   - Unregister every reader before hvrt_vm_destroy; the destroy frees them, so a reader
 *     pointer must not be used after it (hvrt_vm_destroy_checked refuses with -EBUSY instead).
 *
 * Errors shared by every hvrt_reader_* call taking r: -EFAULT r NULL; -EBADF r is not a
 * registered reader (never registered, or unregistered; in debug mode also every stale one).
 * Debug mode only (HVRT_DEBUG=1), checked right after: -EPERM r is a vCPU's reader and this is
 * not the vCPU's thread; -EBUSY another thread is inside a call with r. All calls but register and
 * unregister (which take a per-VM lock and may allocate) are lock-free and allocation-free;
 * quiescent, online and offline are a few instructions, translate a check of the last hit or
 * a binary search.
 *
 * C callers can skip the call too: hvrt_inline.h has hvrt_reader_translate_inline, the same
 * lookup as a static inline function over the published slot-set layout (liburing style).
 */
typedef struct hvrt_reader hvrt_reader;

/*
 * Registers a new reader of vm and stores it in *reader, online. Reuses the record of an
 * unregistered reader when there is one (so an unregistered pointer may come back, live), except
 * in debug mode, which never hands a record out twice.
 * Thread-safe; may run concurrently with slot changes and other readers.
 * Errors: -EFAULT vm or reader NULL; -EBADF vm not live; -ENOMEM; HVRT_EINTERNAL.
 */
int hvrt_reader_register(hvrt_vm *vm, hvrt_reader **reader);

/*
 * Unregisters r (it goes offline first: it no longer delays slot changes). r must not be used
 * afterwards; hvrt keeps its memory until the VM is destroyed, so a late call with it gets
 * -EBADF until a later hvrt_reader_register hands the same record out again (debug mode: -EBADF
 * for good, also after the VM's destroy).
 * Errors: -EFAULT r NULL; -EBADF r not registered (e.g. unregistered twice); HVRT_EINTERNAL.
 */
int hvrt_reader_unregister(hvrt_reader *r);

/*
 * Reports a quiescent state: r holds no translation obtained before this call, and stays
 * online. Call it where the thread holds nothing (e.g. each turn of its loop).
 * Errors: -EFAULT, -EBADF; -EPERM r is offline (nothing changes).
 */
int hvrt_reader_quiescent(hvrt_reader *r);

/*
 * Takes r offline: it holds no translation and will not translate until hvrt_reader_online.
 * Slot changes stop waiting for it. Already offline: returns 0, nothing changes.
 * Errors: -EFAULT, -EBADF.
 */
int hvrt_reader_offline(hvrt_reader *r);

/*
 * Brings r online; it may translate again. Already online: acts as hvrt_reader_quiescent.
 * Errors: -EFAULT, -EBADF.
 */
int hvrt_reader_online(hvrt_reader *r);

/*
 * hvrt_translate for an online reader: no read section; tries r's last hit in as_id (valid
 * while the slot set's generation is unchanged) before a search. Same answer and out fields as
 * hvrt_translate (result 0).
 * Errors, in this order: -EFAULT r NULL; -EBADF r not registered; -EFAULT out NULL; -EINVAL
 * as_id >= the VM's number of address spaces; -EPERM r offline; -ENOENT gfn in no slot (out
 * untouched).
 */
int hvrt_reader_translate(hvrt_reader *r, uint32_t as_id, uint64_t gfn, struct hvrt_translation *out);

/*
 * hvrt_translate_batch for an online reader: no read section, and r's last hit in as_id is
 * tried first (and updated). Per-entry results and the return value as hvrt_translate_batch.
 * Errors, in this order: -EFAULT r NULL; -EBADF r not registered; -EINVAL as_id out of range;
 * -EPERM r offline; 0 when n == 0; -EINVAL n > INT32_MAX; -EFAULT gfns or out NULL.
 */
int hvrt_reader_translate_batch(hvrt_reader *r, uint32_t as_id, const uint64_t *gfns, size_t n,
                                struct hvrt_translation *out);

/* ---------------------------------------------------------------------------------------- */
/* Reverse queries: host range → slots                                                       */

/*
 * What a VMM asks when host memory goes away or is replaced — munmap / MADV_REMOVE /
 * MADV_DONTNEED of shared memory, fallocate(PUNCH_HOLE) of a private file — to know which
 * guest frames must be invalidated (KVM's mmu-notifier hva walk and kvm_gmem_invalidate_begin).
 *
 * One (slot, gfn range) pair of a reverse query: 32 bytes.
 */
struct hvrt_slot_range {
    uint32_t slot;      /* as_id << 16 | id, as KVM numbers slots */
    uint32_t flags;     /* HVRT_TR_READONLY, HVRT_TR_LOG_DIRTY, HVRT_TR_HAS_PRIVATE of the slot, as
                           hvrt_translate reports them (never HVRT_TR_PRIVATE) */
    uint64_t gfn_start; /* first gfn of the slot whose backing overlaps the queried range */
    uint64_t gfn_end;   /* exclusive; gfn_start < gfn_end <= base_gfn + npages of the slot */
    uint64_t reserved;  /* 0 */
};
HVRT_STATIC_ASSERT(sizeof(struct hvrt_slot_range) == 32, "hvrt_slot_range size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_range, slot) == 0, "hvrt_slot_range.slot");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_range, flags) == 4, "hvrt_slot_range.flags");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_range, gfn_start) == 8, "hvrt_slot_range.gfn_start");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_range, gfn_end) == 16, "hvrt_slot_range.gfn_end");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_slot_range, reserved) == 24, "hvrt_slot_range.reserved");

/*
 * Every slot, in every address space, whose shared host memory [userspace_addr, userspace_addr +
 * memory_size) overlaps [hva, hva + len), with the gfns of that slot whose pages overlap it,
 * computed as KVM's kvm_handle_hva_range / hva_to_gfn_memslot do:
 *   hva_start = max(hva, userspace_addr), hva_end = min(hva + len, userspace_addr + memory_size)
 *   gfn_start = base_gfn + ((hva_start - userspace_addr) >> 12)
 *   gfn_end   = base_gfn + ((hva_end + 4095 - userspace_addr) >> 12)
 * hva and len need no alignment: a page counts if any byte of it is in the range. Host ranges
 * may overlap (across slots and address spaces); each overlapping slot gives its own pair.
 *
 * Writes the first min(total, cap) pairs to out[] and returns the total number of pairs (>= 0),
 * so a return value > cap means out[] was too small: retry with a larger array (see below).
 * Order: address space 0 first, then 1; within one, by userspace_addr, then by slot.
 * len == 0 gives 0 (after the argument checks). out may be NULL when cap == 0 (counts only).
 * On an error nothing is written.
 *
 * Errors, checked in this order: -EFAULT vm NULL; -EBADF vm not live; -EFAULT out NULL with
 * cap > 0; -EINVAL hva + len wraps past 2^64 - 1; -ENOMEM the calling thread's first read
 * section could not get its record (the only allocation, once per thread, shared with
 * hvrt_translate); -EINTERNAL (a bug).
 *
 * Thread-safety: as hvrt_translate — lock-free, allocation-free (after the thread's first read),
 * callable from any number of threads concurrently with slot updates, with no registration. Each address space's pairs come
 * from one consistent slot set of that address space (never a mix of two); an update published
 * between two calls may change the answer, hence the loop in the retry pattern:
 *
 *     struct hvrt_slot_range stack_buf[16], *buf = stack_buf;
 *     size_t cap = 16;
 *     int n;
 *     while ((n = hvrt_find_slots_by_hva(vm, hva, len, buf, cap)) > 0 && (size_t)n > cap) {
 *         cap = (size_t)n + 8;          // room for slots created meanwhile
 *         if (buf != stack_buf)
 *             free(buf);
 *         buf = malloc(cap * sizeof *buf);
 *         if (buf == NULL)
 *             ... out of memory ...
 *     }
 *     if (n < 0)
 *         ... error ...
 *     for (int i = 0; i < n; i++)
 *         invalidate(buf[i].slot, buf[i].gfn_start, buf[i].gfn_end);
 *     if (buf != stack_buf)
 *         free(buf);
 *
 * The answer describes the slots at the time of the call: a VMM that must not miss a slot
 * created concurrently serializes its slot updates with its invalidations, as KVM does with
 * mmu_invalidate_in_progress.
 */
int hvrt_find_slots_by_hva(hvrt_vm *vm, uint64_t hva, uint64_t len, struct hvrt_slot_range *out, size_t cap);

/*
 * Every private slot, in every address space, bound to the file fd refers to whose private pages
 * overlap file bytes [offset, offset + len), with the gfns of those pages, computed as KVM's
 * kvm_gmem_invalidate_begin does. With first = offset >> 12 and end = (offset + len + 4095) >> 12
 * (file pages; computed without wrap-around), for a slot bound at page pgoff of the file:
 *   gfn_start = base_gfn + max(pgoff, first) - pgoff
 *   gfn_end   = base_gfn + min(pgoff + npages, end) - pgoff
 * The file is identified by (st_dev, st_ino) of fstat(fd), as the binding check identifies it:
 * fd may be the fd the slot was created with, a dup of it, hvrt's own duplicate (private_fd of
 * hvrt_translate), or any other open file description of the same file (e.g. a reopen through
 * /proc/self/fd). An open fd of a file no slot uses gives 0. offset and len need no alignment.
 * A file's pages are bound at most once (the binding rule), so pairs never overlap in the file.
 *
 * Returns the total number of pairs and writes the first min(total, cap), as
 * hvrt_find_slots_by_hva (same retry pattern). Order: address space 0 first, then 1; within
 * one, by page of the file. len == 0 gives 0 (after the argument checks, the fd's included).
 *
 * Errors, checked in this order: -EFAULT vm NULL; -EBADF vm not live; -EFAULT out NULL with
 * cap > 0; -EINVAL offset + len wraps past 2^64 - 1; -EBADF fd < 0 or not an open fd;
 * -ENOMEM as hvrt_find_slots_by_hva; -EINTERNAL (a bug).
 *
 * Thread-safety: as hvrt_find_slots_by_hva (lock-free, allocation-free; one fstat system call).
 */
int hvrt_find_slots_by_private(hvrt_vm *vm, int fd, uint64_t offset, uint64_t len, struct hvrt_slot_range *out,
                               size_t cap);

/* ---------------------------------------------------------------------------------------- */
/* Memory attributes                                                                         */
/*
 * As in KVM, attributes belong to the VM and to a gfn, not to a slot or an address space: they
 * may be set for gfns in no slot, and a slot created later sees them. Every gfn starts with
 * attributes 0 (shared). The only attribute is KVM_MEMORY_ATTRIBUTE_PRIVATE (8), supported by
 * the VM types with private memory (HVRT_VM_TYPE_SW_PROTECTED, _SNP, _TDX); for the others only
 * attributes 0 is valid (KVM_CAP_MEMORY_ATTRIBUTES on a VM fd: 8 or 0).
 * Storage is sparse: untouched gfns and ranges wholly private or wholly shared cost nothing, so
 * one call may cover all 2^52 gfns. Changes are serialized with slot updates (the VM's lock);
 * the three queries are lock-free and allocation-free and may run on any thread at any time
 * while the VM lives; a query concurrent with a change sees each gfn before or after it.
 */

/*
 * KVM_SET_MEMORY_ATTRIBUTES: sets the attributes of every gfn in [a->address, a->address +
 * a->size) to a->attributes. gfns above the VM's max gfn (max_gpa_bits) are accepted, as the
 * kernel accepts them (it checks neither slots nor MAXPHYADDR here).
 * Errors, checked in this order (the kernel's): -EFAULT vm NULL; -EBADF vm not live; -ENOTTY the
 * VM's kernel profile has no KVM_SET_MEMORY_ATTRIBUTES (6.1; a is not read); -EFAULT a
 * NULL; -EINVAL a->flags != 0; -EINVAL a->attributes has a bit the VM type does not support;
 * -EINVAL a->size == 0; -EINVAL a->address + a->size wraps past 2^64 - 1; -EINVAL a->address or
 * a->size not a multiple of 4096; -ENOMEM out of memory (at most a few 16-32 KiB blocks);
 * -EINTERNAL (a bug). On any error no attribute changes.
 * Thread-safety: any thread; serialized with other changes and slot updates.
 */
int hvrt_set_memory_attributes(hvrt_vm *vm, const struct kvm_memory_attributes *a);

/*
 * The attributes of gfn (0 or KVM_MEMORY_ATTRIBUTE_PRIVATE) into *attrs; 0 for any gfn no
 * request can name (gfn >= 2^52). KVM has no such ioctl: userspace tracks them; hvrt does.
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -EFAULT attrs NULL (*attrs written only on 0).
 * Thread-safety: lock-free, allocation-free, any thread.
 */
int hvrt_get_memory_attributes(hvrt_vm *vm, uint64_t gfn, uint64_t *attrs);

/*
 * 1 if every gfn in [gfn_start, gfn_end) has (attributes & mask) == attrs, else 0: KVM's
 * kvm_range_has_memory_attributes (Linux 6.9+), quirks included:
 *   - mask is first ANDed with the VM's supported attributes; attrs with a bit outside the
 *     result gives 0;
 *   - gfn_end == gfn_start + 1 (mod 2^64) compares that one gfn under the mask;
 *   - attrs == 0 asks whether no gfn in [gfn_start, gfn_end - 1] has any attribute, whatever the
 *     mask: 1 for an empty range (gfn_start >= gfn_end, gfn_end != 0), and gfn_end == 0 means
 *     up to the end of the space (gfn_end - 1 wraps);
 *   - attrs != 0 requires every gfn of [gfn_start, gfn_end) to have it: 1 for an empty range.
 * Errors: -EFAULT vm NULL; -EBADF vm not live.
 * Thread-safety: lock-free, allocation-free, any thread. Cost: O(1) per wholly uniform 1 GiB
 * (or larger) region, a bitmap scan inside mixed ones.
 */
int hvrt_range_has_attributes(hvrt_vm *vm, uint64_t gfn_start, uint64_t gfn_end, uint64_t mask, uint64_t attrs);

/*
 * The largest page-table level at which gfn of address space as_id may be mapped: 3 (1 GiB),
 * 2 (2 MiB) or 1 (4 KiB). Level 2 (3) needs the aligned 512-page (2^18-page) frame around gfn
 * to lie wholly inside gfn's slot, the slot's base_gfn and userspace_addr >> 12 to be congruent
 * modulo the frame size (and, for a slot with a private backing, base_gfn and the private
 * offset >> 12 too), and every gfn of the frame to have the same attributes (x86 KVM's
 * lpage_info: head/tail and alignment disallow, KVM_LPAGE_MIXED_FLAG). Host page sizes
 * (THP, hugetlb, guest_memfd folios) and dirty logging are the caller's to apply.
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -EINVAL as_id >= the VM's number of address
 * spaces; -ENOENT gfn in no slot; -ENOMEM as hvrt_translate (first call of a thread).
 * Thread-safety: as hvrt_translate (read section; lock-free, allocation-free, O(1)). Concurrent
 * with a change of the frame's attributes the answer may reflect either state (the frame
 * summaries follow the pages): a caller that maps must order itself against changes, as KVM's
 * page fault does with mmu_invalidate_seq.
 */
int hvrt_max_mapping_level(hvrt_vm *vm, uint32_t as_id, uint64_t gfn);

/*
 * Runs of equal attributes, found by SIMD scans of the bitmaps (uniform 1 GiB chunks are skipped
 * whole). *attrs receives gfn's attributes and *run_end the first gfn in (gfn, end] whose
 * attributes differ from them, or end: every page of [gfn, *run_end) has *attrs. To walk a
 * range: for (g = start; g < end; g = run_end) hvrt_attributes_run(vm, g, end, &run_end, &a).
 * gfns from 2^52 on are shared. Errors: -EFAULT vm, run_end or attrs NULL; -EBADF vm not live;
 * -EINVAL gfn >= end. Lock-free and allocation-free; concurrent with an attribute change the
 * answer may mix both states: a caller that must not see that reads hvrt_conversion_seq before
 * and after and retries when it moved or was odd (or orders itself against its own changes).
 */
int hvrt_attributes_run(hvrt_vm *vm, uint64_t gfn, uint64_t end, uint64_t *run_end, uint64_t *attrs);

/*
 * The number of PRIVATE pages in [start, end) (SIMD population count; uniform chunks O(1)).
 * Errors: -EFAULT vm or private_pages NULL; -EBADF vm not live; -EINVAL start > end (an empty
 * range counts 0). Lock-free and allocation-free.
 */
int hvrt_attributes_count(hvrt_vm *vm, uint64_t start, uint64_t end, uint64_t *private_pages);

/* ---------------------------------------------------------------------------------------- */
/* Private⇄shared conversion                                                                 */
/*
 * What a VMM does when the guest asks to turn memory private or shared (KVM_EXIT_MEMORY_FAULT,
 * a TDVMCALL/GHCB page-state change), QEMU's kvm_convert_memory: discard the copy the guest no
 * longer uses, set the attribute, tell whoever maps guest memory (VFIO, vhost: QEMU's
 * RamDiscardManager listeners). Only for VM types with private memory (see Memory attributes).
 *
 * Which pages are touched: only the pages of the range whose attribute actually changes; pages
 * already at the target are neither discarded again nor reported. For those pages, under the VM
 * lock (serialized with slot changes and hvrt_set_memory_attributes):
 *   1. discard the side no longer used, in every address space:
 *      to shared  — fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) on the
 *                   private file of every slot with a private backing that maps them (hvrt's own
 *                   duplicate of the fd; off = (private_pgoff + gfn - base_gfn) * 4096);
 *      to private — the shared pages of every slot that maps them: madvise(hva, len, MADV_REMOVE),
 *                   which frees the pages of file and shmem memory (a MAP_SHARED memfd, shmem,
 *                   hugetlbfs); where the kernel refuses it with EINVAL (anonymous MAP_PRIVATE
 *                   memory, mlocked memory) MADV_DONTNEED instead, which is what frees anonymous
 *                   pages. A MAP_PRIVATE or read-only file mapping gets EACCES from MADV_REMOVE
 *                   and the conversion fails with -EACCES (dropping only the COW copies would
 *                   leave the file's data readable); turn shared discard off for such memory.
 *      Pages in no slot (holes) have nothing to discard: only their attribute changes.
 *      Host memory still in use is kept: where slots' userspace ranges overlap (in one address
 *      space or across two), the shared pages that also back a gfn outside [gpa, gpa + size)
 *      whose attribute is shared are not dropped. (A private file page backs one gfn only,
 *      KVM's binding rule, so to shared never punches a page another gfn uses.)
 *      The calls are merged: one per maximal contiguous run of host addresses (shared) or of
 *      bytes of one file (private), across slots and address spaces, so aligned hugepage pieces
 *      are never split.
 *   2. set the attribute of the range (as hvrt_set_memory_attributes would);
 *   3. call every listener once per maximal converted run, in the order they were added.
 * The shared memory of a slot must be mapped: madvise on an unmapped hole fails with -ENOMEM.
 * hvrt trusts userspace_addr as KVM does: to private discards whatever is mapped there now, so
 * a slot must be deleted before its memory is unmapped and the address reused.
 *
 * On failure no attribute changes and no listener is called. A discard is not undoable: if the
 * discard of one piece fails, the pieces discarded before it stay discarded (their data is lost;
 * the guest converting them expected that), and the error is that system call's -errno.
 */

/* hvrt_set_discard_policy bits; both are on when a VM is created. */
#define HVRT_DISCARD_SHARED 0x1u  /* to private: drop the shared pages (madvise) */
#define HVRT_DISCARD_PRIVATE 0x2u /* to shared: punch the private file (fallocate) */

/*
 * Converts guest-physical bytes [gpa, gpa + size) to private (to_private 1) or shared (0).
 * Returns 0 also when no page needed to change (then nothing happens: no discard, no listener,
 * the sequence does not move).
 * Errors, in this order: -EFAULT vm NULL; -EBADF vm not live; -EINVAL the VM type has no private
 * memory, to_private not 0 or 1, size 0, gpa + size wraps past 2^64 - 1, gpa or size not a
 * multiple of 4096; -EDEADLK called from a conversion listener; -ENOMEM (before any discard);
 * a discard's -errno: -EBADF/-EPERM/-EOPNOTSUPP from fallocate (e.g. a private file opened
 * read-only gives -EBADF), -EACCES/-ENOMEM/-EINVAL from madvise (see above); -EINTERNAL.
 * On any error no attribute changes (discards of other pieces may have happened, see above).
 * Thread-safety: any thread; serialized with slot and attribute changes. The discards and the
 * listeners run on the calling thread, holding the VM lock.
 */
int hvrt_convert(hvrt_vm *vm, uint64_t gpa, uint64_t size, int to_private);

/*
 * Which sides hvrt_convert discards: HVRT_DISCARD_SHARED | HVRT_DISCARD_PRIVATE (the default),
 * either, or 0. Turn HVRT_DISCARD_SHARED off for hugetlb memory the VMM discards in whole pages
 * itself, or when the VMM manages the shared side (e.g. it unmaps it); the attribute still changes.
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -EINVAL a bit other than those two.
 */
int hvrt_set_discard_policy(hvrt_vm *vm, uint32_t flags);

/*
 * The VM's conversion sequence into *seq: even when no conversion is in progress, odd while one
 * is (from before its first discard until after its last listener returned); each conversion
 * that has pages to change adds 2, also one that then fails in a discard (the memory may have
 * changed); one with nothing to change or refused by its checks adds 0. Lock-free,
 * allocation-free; it starts at 0.
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -EFAULT seq NULL.
 *
 * Reader protocol (seqlock): a thread that reads guest memory or attributes without the VM lock
 * (e.g. a device model after hvrt_translate) and must not act on a state a conversion was
 * changing under it does
 *
 *     uint64_t s0, s1;
 *     do {
 *         while (hvrt_conversion_seq(vm, &s0) == 0 && (s0 & 1))
 *             sched_yield();                     // a conversion is running
 *         ... hvrt_get_memory_attributes / hvrt_translate, read the memory ...
 *     } while (hvrt_conversion_seq(vm, &s1) != 0 || s1 != s0);
 *
 * hvrt_conversion_seq issues a full fence before its load, so the reads inside the loop are
 * ordered before the second call. The loop detects a conversion that raced with the reads; it
 * does not stop one (use the result only after the check, or redo the work).
 */
int hvrt_conversion_seq(hvrt_vm *vm, uint64_t *seq);

/* A conversion listener: [gpa, gpa + size) has just become private (to_private 1) or shared. */
typedef void (*hvrt_conversion_cb)(void *ctx, uint64_t gpa, uint64_t size, int to_private);

/*
 * Adds the listener (cb, ctx). cb is called by
 * hvrt_convert once per maximal run of pages it converted, after the discard and the attribute
 * change took effect (hvrt_get_memory_attributes already answers the new value) and while the
 * sequence is odd: on the converting thread, holding the VM lock. So a callback must be short
 * and must not change this VM's slots, attributes or conversions (those calls return -EDEADLK
 * from a callback); queries (translate, attributes, sequence) and adding or removing listeners
 * are allowed. A listener removed by a callback is not called for the ranges that follow.
 * The same cb may be added with different ctx values (each is its own listener).
 * Errors: -EFAULT vm or cb NULL; -EBADF vm not live; -EEXIST (cb, ctx) already added; -ENOMEM.
 */
int hvrt_add_conversion_listener(hvrt_vm *vm, hvrt_conversion_cb cb, void *ctx);

/*
 * Removes the listener (cb, ctx); it is not called afterwards (not even for the remaining runs
 * of a conversion in progress, when removed from a callback).
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -ENOENT (cb, ctx) is not a listener (e.g.
 * removed twice).
 */
int hvrt_remove_conversion_listener(hvrt_vm *vm, hvrt_conversion_cb cb, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* KVM binding                                                                               */
/*
 * Everything above works without KVM. A VMM that has a KVM VM fd binds it to the hvrt VM once,
 * before or after adding slots (there is no unbind); from then on every slot change goes to KVM
 * first and to hvrt only if KVM accepted it, so both hold the same slots:
 *   1. hvrt's own checks run first (those of hvrt_set_user_memory_region2 and the VM's config:
 *      max_gpa_bits, max_user_slots, ...): a request hvrt refuses returns hvrt's errno and never
 *      reaches KVM. Identical requests (no change) return 0 without asking KVM. hvrt also reserves
 *      the index room the change needs here, so -ENOMEM for it is returned before KVM is asked.
 *   2. KVM gets the request: hvrt_set_user_memory_region as KVM_SET_USER_MEMORY_REGION;
 *      hvrt_set_user_memory_region2, _ext and every entry of hvrt_set_user_memory_regions as
 *      KVM_SET_USER_MEMORY_REGION2 (as KVM_SET_USER_MEMORY_REGION where the VM lacks
 *      KVM_CAP_USER_MEMORY2, whose flag filter then refuses a private slot with -EINVAL). The
 *      private fd goes as given. If KVM refuses, its errno is returned and hvrt changes nothing.
 *      So on a bound VM KVM's rules add to hvrt's: a guest_memfd made by ANOTHER KVM VM, and an
 *      _ext private fd that is not a guest_memfd (memfd, regular file), are KVM's -EINVAL; a slot
 *      KVM has that hvrt does not (made on the fd directly) is KVM's -EEXIST.
 *   3. hvrt applies it. If that fails (-ENOMEM for the slot's own records, or -EMFILE
 *      duplicating the private fd; a delete cannot fail here), KVM's
 *      slot is put back as hvrt has it (a create deleted, a delete re-created with hvrt's
 *      duplicate of the file, a move moved back, old flags restored) and hvrt's errno returned.
 * A batch sends its entries to KVM one by one as they are applied; hvrt's readers still see the
 * whole batch at once. Attribute changes (hvrt_set_memory_attributes, hvrt_convert) go to
 * KVM_SET_MEMORY_ATTRIBUTES first where the VM takes PRIVATE there (HVRT_KVM_MEMORY_ATTRIBUTES)
 * and, after hvrt's own checks and after hvrt reserved what the change needs (-ENOMEM before KVM),
 * KVM's errno wins and hvrt changes nothing on a refusal; hvrt_convert asks KVM before its
 * discards (QEMU's order) and, if a discard then fails, sets the pages that were changing back in
 * KVM. Where the VM does not take PRIVATE they stay in hvrt alone (hvrt is then the VMM's record of
 * what the guest asked for). hvrt assumes KVM's attributes are all shared at the bind (as after
 * KVM_CREATE_VM) and hands it its PRIVATE ranges there.
 * hvrt does not own the fd: the VMM keeps it open while bound and closes it after
 * hvrt_vm_destroy, which leaves KVM's slots as they are. Bind one hvrt VM per KVM VM. A private
 * slot's file stays open through hvrt's duplicate while the slot exists (KVM keeps no reference
 * of its own), so the VMM may close its guest_memfd fd after adding the slot.
 */

/* hvrt_kvm_caps.flags: what hvrt found on the bound VM (probed once, at bind). */
#define HVRT_KVM_USER_MEMORY2 (1u << 0)      /* KVM_CAP_USER_MEMORY2 (231): region2 is used */
#define HVRT_KVM_GUEST_MEMFD (1u << 1)       /* KVM_CAP_GUEST_MEMFD (234) */
#define HVRT_KVM_MEMORY_ATTRIBUTES (1u << 2) /* KVM_CAP_MEMORY_ATTRIBUTES (233) offers PRIVATE on this VM */
#define HVRT_KVM_EXIT_HYPERCALL (1u << 3)    /* KVM_HC_MAP_GPA_RANGE exits were enabled (HVRT_BIND_EXIT_HYPERCALL) */
#define HVRT_KVM_MANUAL_DIRTY_LOG (1u << 4)  /* KVM offers KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (168) */
#define HVRT_KVM_READONLY_MEM (1u << 5)      /* KVM_CAP_READONLY_MEM (81) */
#define HVRT_KVM_MEMORY_FAULT_INFO (1u << 6) /* KVM_CAP_MEMORY_FAULT_INFO (232) */

/* What KVM offers on the bound VM, as hvrt probed it at hvrt_kvm_bind (KVM_CHECK_EXTENSION on
 * the VM fd, which answers for that VM). */
struct hvrt_kvm_caps {
    uint32_t size;              /* in: sizeof(struct hvrt_kvm_caps), at least 8; out: the bytes
                                   hvrt wrote, min(in, 72); bytes past them are left untouched */
    uint32_t flags;             /* HVRT_KVM_* */
    uint64_t guest_memfd_flags; /* KVM_CAP_GUEST_MEMFD_FLAGS (244): the create flags KVM accepts
                                   (GUEST_MEMFD_FLAG_MMAP 1, _INIT_SHARED 2); 0 where missing */
    uint64_t memory_attributes; /* KVM_CAP_MEMORY_ATTRIBUTES on the VM fd (0 where unsupported) */
    uint64_t hypercall_exits;   /* KVM_CAP_EXIT_HYPERCALL: hypercalls KVM can forward (bit 12 =
                                   KVM_HC_MAP_GPA_RANGE); 0 where missing */
    uint32_t nr_memslots;       /* KVM_CAP_NR_MEMSLOTS */
    uint32_t nr_address_spaces; /* KVM_CAP_MULTI_ADDRESS_SPACE (0 from KVM reads as 1) */
    uint64_t reserved[4];       /* written as 0 */
};
HVRT_STATIC_ASSERT(sizeof(struct hvrt_kvm_caps) == 72, "hvrt_kvm_caps size");

/* hvrt_kvm_bind flags */
#define HVRT_BIND_EXIT_HYPERCALL (1u << 0) /* KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE) */

/*
 * Binds vm to the KVM VM fd kvm_vm_fd (from KVM_CREATE_VM), in this order: probes the
 * capabilities once; enables what flags ask for, then the dirty-log mode set with
 * hvrt_dirty_log_set_mode if it is not 0 (KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
 * mode); a mode of 0 leaves KVM's as it is); hands KVM every slot the hvrt VM already has
 * (address space by address space, by gfn; region2 where the VM has KVM_CAP_USER_MEMORY2, else
 * v1; a private slot with hvrt's own duplicate of its file) and, where KVM takes PRIVATE, the
 * PRIVATE ranges already set. If KVM refuses one, everything handed so far is taken back (slots
 * deleted, ranges made shared, enabled capabilities set to 0) and the VM stays unbound.
 * Errors, in the order checked: -EFAULT vm NULL; -EBADF vm not live, or kvm_vm_fd negative or not
 * open; -EINVAL unknown flags; -EDEADLK called from a conversion listener; -EBUSY vm is already
 * bound (to this fd or any other); -ENOTTY kvm_vm_fd is not a KVM VM fd (KVM_CHECK_EXTENSION fails
 * on it with ENOTTY or EINVAL, e.g. /dev/null; or it is /dev/kvm itself, which answers
 * KVM_CHECK_EXTENSION but whose /proc/self/fd link is not "anon_inode:kvm-vm"); -EINVAL the hvrt
 * VM has more address spaces than KVM (KVM_CAP_MULTI_ADDRESS_SPACE; a KVM without SMM has 1:
 * create the hvrt VM with nr_address_spaces = 1); -ENODEV HVRT_BIND_EXIT_HYPERCALL and KVM
 * cannot forward KVM_HC_MAP_GPA_RANGE, or the dirty-log mode has bits
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 does not offer (any, where KVM lacks it); KVM's errno when it
 * refused KVM_ENABLE_CAP or an existing slot or range (e.g. -EINVAL for a guest_memfd of another
 * KVM VM or an _ext slot whose private file is not a guest_memfd, -EEXIST for a slot overlapping
 * one KVM already has).
 */
int hvrt_kvm_bind(hvrt_vm *vm, int kvm_vm_fd, uint32_t flags);

/*
 * Copies what hvrt probed at bind into *caps (min(caps->size, 72) bytes; caps->size becomes that
 * count). Errors: -EFAULT vm or caps NULL; -EBADF vm not live; -EINVAL caps->size < 8; -ENODEV vm
 * not bound.
 */
int hvrt_kvm_caps(hvrt_vm *vm, struct hvrt_kvm_caps *caps);

/* hvrt_create_guest_memfd flags (KVM's own bits, GUEST_MEMFD_FLAG_MMAP and _INIT_SHARED from
 * kvm_uapi.h, pass through unchanged) */
#define HVRT_GMEM_SHARED_IF_SUPPORTED (1ull << 32) /* add MMAP | INIT_SHARED where the VM offers both */

/*
 * KVM_CREATE_GUEST_MEMFD on the bound VM: a guest_memfd of size bytes with the given flags.
 * HVRT_GMEM_SHARED_IF_SUPPORTED is hvrt's and never reaches KVM: it adds GUEST_MEMFD_FLAG_MMAP |
 * _INIT_SHARED when caps.guest_memfd_flags has both and nothing otherwise (e.g. private-memory VM
 * types, which offer MMAP without INIT_SHARED). Every other bit goes to KVM as given, and KVM
 * checks size and flags. hvrt sets FD_CLOEXEC on the new fd (KVM does not; a fork+exec racing
 * with this call can still inherit it). When the flags KVM got include MMAP and shared is not
 * NULL, hvrt maps the file (MAP_SHARED, PROT_READ | PROT_WRITE, offset 0, the whole size) and
 * stores the address in *shared; without MMAP it stores NULL there. That mapping is the
 * userspace_addr to give a slot of this file. Returns the new fd; the caller owns it and the
 * mapping (close and munmap them after the slots that use them are deleted).
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -ENODEV vm not bound, or KVM has no guest_memfd
 * (KVM_CAP_GUEST_MEMFD); KVM's errno: -EINVAL size 0, not page aligned or >= 2^63, or flag bits
 * KVM does not offer (including unknown bits above 31); mmap's errno (then the fd is closed). On
 * an error no fd stays open and *shared is not written.
 */
int hvrt_create_guest_memfd(hvrt_vm *vm, uint64_t size, uint64_t flags, void **shared);

/* ---------------------------------------------------------------------------------------- */
/* Dirty logging                                                                             */
/*
 * Every slot created or changed with KVM_MEM_LOG_DIRTY_PAGES has a dirty bitmap in hvrt, one bit
 * per page of the slot (bit i = gfn base_gfn + i, little-endian 64-bit words, as KVM's), which
 * starts clear (all npages bits set with HVRT_DIRTY_LOG_INITIALLY_SET, as KVM sets them when it
 * allocates a bitmap) when logging is turned on, lives across moves and flag changes that keep
 * logging on (the bits are slot-relative, so a moved slot keeps its dirty pages), and goes away
 * when logging is turned off or the slot is deleted. Pages get into it from two sources:
 * hvrt_mark_dirty (device writes the VMM does itself), and, for a bound VM, KVM_GET_DIRTY_LOG,
 * which hvrt_dirty_log_get harvests and merges. The caller's bitmap for a slot of npages pages is
 * ALIGN(npages, 64) / 8 bytes; bits past npages are always 0. A slot change that needs a new
 * bitmap fails with -ENOMEM, changing nothing, when it cannot be allocated.
 */

#define HVRT_DIRTY_LOG_MANUAL_PROTECT 1u /* KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE */
#define HVRT_DIRTY_LOG_INITIALLY_SET 2u  /* KVM_DIRTY_LOG_INITIALLY_SET */

/*
 * KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode) for hvrt's bitmaps (and KVM's, when
 * bound): with MANUAL_PROTECT, hvrt_dirty_log_get only copies and hvrt_dirty_log_clear clears;
 * without it, hvrt_dirty_log_get fetches and clears at once. INITIALLY_SET needs MANUAL_PROTECT
 * and applies to bitmaps allocated afterwards (existing ones are not touched, as in KVM). The
 * mode may be changed at any time (0 turns manual protection off again). Default 0.
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -EINVAL unknown bits or INITIALLY_SET without
 * MANUAL_PROTECT (kvm_vm_ioctl_enable_cap_generic); KVM's errno for a bound VM that refused it
 * (then the mode is unchanged).
 */
int hvrt_dirty_log_set_mode(hvrt_vm *vm, uint32_t mode);

/*
 * KVM_GET_DIRTY_LOG for slot (as_id << 16 | id): harvests KVM's log of the slot when bound, then
 * copies hvrt's bitmap ORed with it to bitmap (ALIGN(npages, 64) / 8 bytes) and, without manual
 * protection, clears what it copied: each slot has two bitmap arrays; the get makes the clear one
 * the one markers write, waits until no hvrt_mark_dirty can still be writing the other (a
 * read-section grace period: one membarrier(2), microseconds), then copies and zeroes it with
 * plain vector stores. So a page marked concurrently is in this copy or in the next, never lost
 * or reported twice. Serialized with slot changes (the VM's writer lock).
 * Errors, KVM's rules and order: -EFAULT vm NULL; -EBADF vm not live; -EINVAL as_id or id out
 * of range; -ENOENT no such slot or the slot does not log dirty pages; -EFAULT bitmap NULL
 * (checked before anything is harvested or cleared: unlike KVM, which clears and then fails the
 * copy, a NULL bitmap loses nothing); KVM's errno from the harvest (e.g. -ENXIO: the bound VM
 * logs into a dirty ring), and then nothing is copied or cleared; -ENOMEM the harvest buffer
 * (one, reused, as large as the largest slot harvested) could not be allocated.
 */
int hvrt_dirty_log_get(hvrt_vm *vm, uint32_t slot, void *bitmap);

/*
 * hvrt_dirty_log_get without the copy: *bitmap receives hvrt's own array holding the slot's
 * harvest (same contents and layout as hvrt_dirty_log_get would write, ALIGN(npages, 64) / 8
 * bytes, read-only), and the log is cleared (without manual protection) by making the other,
 * clear array the one markers write. The view stays valid and unchanged until the next
 * hvrt_dirty_log_get, _get_view or _clear of this slot, any change of the slot (flags, move,
 * delete) or hvrt_vm_destroy; read it before that (the migration thread that harvests usually
 * does both). Costs a grace period plus zeroing the previous view (a memset of the bitmap's
 * size), not a copy. With HVRT_DIRTY_LOG_MANUAL_PROTECT the view is a copy of the log (which
 * stays set until hvrt_dirty_log_clear), made into hvrt's array.
 * Errors: as hvrt_dirty_log_get (-EFAULT bitmap NULL, checked before anything changes).
 */
int hvrt_dirty_log_get_view(hvrt_vm *vm, uint32_t slot, const uint64_t **bitmap);

/*
 * KVM_CLEAR_DIRTY_LOG: clears, in [first_page, first_page + num_pages) of the slot, the pages
 * whose bits are set in bitmap (bit 0 = first_page; ALIGN(num_pages, 64) / 8 bytes are read), in
 * KVM first (bound) and then in hvrt. Bits for pages past the slot's end are ignored. Works with
 * or without manual protection: KVM's KVM_CLEAR_DIRTY_LOG checks no mode, and neither does hvrt.
 * Errors, KVM's rules and order (kvm_clear_dirty_log_protect): -EFAULT vm NULL; -EBADF vm not
 * live; -EINVAL as_id or id out of range; -EINVAL first_page not a multiple of 64 (before the
 * slot lookup); -ENOENT no such slot or the slot does not log; -EINVAL first_page > npages,
 * num_pages > npages - first_page, or num_pages not a multiple of 64 without reaching the slot's
 * end; -EFAULT bitmap NULL with num_pages > 0 (with num_pages 0 nothing is read, and the call
 * succeeds, as in KVM); KVM's errno (and then hvrt clears nothing).
 */
int hvrt_dirty_log_clear(hvrt_vm *vm, uint32_t slot, uint64_t first_page, uint32_t num_pages,
                         const void *bitmap);

/*
 * Marks the pages of [gpa, gpa + len) of address space 0 dirty in the slots that log them (a
 * write the VMM or a device did itself): every page holding a byte of the range. Pages in no slot
 * or in slots that do not log are skipped. Lock-free and allocation-free (a read section over the
 * published slots, one atomic OR per 64-bit word, none for a word that already holds the bits):
 * any thread, concurrently with everything, including slot changes (a mark racing a change of
 * its slot lands in the old or the new state). Returns the number of pages of the range inside
 * logging slots (>= 0; already dirty pages count too), 0 for len 0.
 * Errors: -EFAULT vm NULL; -EBADF vm not live; -EINVAL gpa + len wraps past 2^64 (a range that
 * ends exactly at 2^64 is fine).
 */
int64_t hvrt_mark_dirty(hvrt_vm *vm, uint64_t gpa, uint64_t len);

/*
 * The first set bit at or after from in bitmap[0 .. nbits) (SIMD scan), or nbits when there is
 * none: how to walk a bitmap hvrt_dirty_log_get returned,
 *     for (i = hvrt_bitmap_next_set(b, n, 0); i < n; i = hvrt_bitmap_next_set(b, n, i + 1)) ...
 * Reads only the 64-bit words holding bits [from, nbits). Returns nbits for from >= nbits, and
 * for a NULL bitmap. Lock-free, allocation-free.
 */
uint64_t hvrt_bitmap_next_set(const uint64_t *bitmap, uint64_t nbits, uint64_t from);

/* ---------------------------------------------------------------------------------------- */
/* vCPU run loop                                                                             */
/*
 * The VMM's vCPU thread creates an hvrt_vcpu for its KVM vCPU and hands it each exit. hvrt
 * handles what concerns memory (conversions asked by memory faults and KVM_HC_MAP_GPA_RANGE)
 * and classifies MMIO for the VMM; everything else is the VMM's. Each hvrt_vcpu owns a
 * registered reader (hvrt_vcpu_reader) that is offline while the guest runs, so slot changes
 * never wait for a running guest.
 *
 *     hvrt_vcpu_enter(v);                       // reader offline
 *     int r = ioctl(vcpu_fd, KVM_RUN, 0);
 *     int e = errno;
 *     hvrt_vcpu_exit(v);                        // reader online
 *     switch (hvrt_vcpu_handle_exit(v, r, e)) { case HVRT_EXIT_RESUME: continue; ... }
 *
 * (hvrt_vcpu_run does exactly this loop.) One thread per hvrt_vcpu: the one that created it
 * (debug mode refuses the others with -EPERM). Destroy every hvrt_vcpu before hvrt_vm_destroy
 * (the VM frees its readers; hvrt_vm_destroy_checked refuses with -EBUSY while one exists).
 *
 * From hvrt_vcpu_create or hvrt_vcpu_exit until the next hvrt_vcpu_enter the reader is online.
 * Meanwhile the vCPU thread must not call what takes the VM's lock (slot changes,
 * hvrt_convert, hvrt_set_memory_attributes, ...) unless it brackets the call with
 * hvrt_vcpu_enter / hvrt_vcpu_exit: a slot change waits for every online reader, the caller's
 * own included, and another thread's slot change holds the lock while it waits for this one.
 * hvrt_vcpu_handle_exit does so itself for the conversions it makes.
 */
typedef struct hvrt_vcpu hvrt_vcpu;
struct kvm_run;

#define HVRT_EXIT_UNHANDLED 0 /* the VMM's to handle (see hvrt_vcpu_exit_info) */
#define HVRT_EXIT_RESUME 1    /* handled: enter KVM_RUN again */

/* hvrt_exit_info.kind */
#define HVRT_EXIT_OTHER 0          /* not about memory: the VMM decodes kvm_run itself */
#define HVRT_EXIT_MEMORY_FAULT 1   /* KVM_EXIT_MEMORY_FAULT (see hvrt_vcpu_handle_exit) */
#define HVRT_EXIT_MAP_GPA_RANGE 2  /* KVM_EXIT_HYPERCALL / KVM_HC_MAP_GPA_RANGE, ret written (RESUME) */
#define HVRT_EXIT_MMIO 3           /* KVM_EXIT_MMIO, classified (UNHANDLED: the VMM emulates it) */
#define HVRT_EXIT_INTERRUPTED 4    /* KVM_RUN returned -1 with EINTR or EAGAIN (UNHANDLED) */

/* hvrt_exit_info.mmio_class for HVRT_EXIT_MMIO; the first that applies, in this order: */
#define HVRT_MMIO_PRIVATE 3        /* the gpa is private (attributes): no shared access should reach the VMM */
#define HVRT_MMIO_DEVICE 1         /* the gpa is in no slot: device MMIO */
#define HVRT_MMIO_READONLY_WRITE 2 /* a write to a KVM_MEM_READONLY slot (ROM/flash emulation) */
#define HVRT_MMIO_IN_SLOT 4        /* in a slot, not a READONLY write (unexpected from KVM: a VMM bug,
                                      or a race with a slot change) */

/* What the last hvrt_vcpu_handle_exit saw, decoded. Fields a kind does not use are 0 (slot:
 * UINT32_MAX). */
struct hvrt_exit_info {
    uint32_t kind;          /* HVRT_EXIT_* kind */
    uint32_t exit_reason;   /* kvm_run.exit_reason as read (stale after most -1 returns) */
    uint64_t gpa;           /* fault / range / MMIO address */
    uint64_t size;          /* bytes of the fault or range (0 for a malformed range); MMIO
                               access length */
    uint32_t to_private;    /* MEMORY_FAULT / MAP_GPA_RANGE: 1 to private, 0 to shared */
    uint32_t mmio_class;    /* HVRT_MMIO_* for HVRT_EXIT_MMIO, else 0 */
    uint32_t is_write;      /* MMIO */
    uint32_t slot;          /* MMIO in a slot: as_id << 16 | id, else UINT32_MAX */
    int64_t result;         /* 0, or the -errno handle_exit saw: of the conversion, of KVM_RUN,
                               or -EINVAL for a malformed MAP_GPA_RANGE (which still RESUMEs) */
    uint64_t reserved[2];   /* 0 */
};
HVRT_STATIC_ASSERT(sizeof(struct hvrt_exit_info) == 64, "hvrt_exit_info size");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_exit_info, gpa) == 8, "hvrt_exit_info.gpa");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_exit_info, to_private) == 24, "hvrt_exit_info.to_private");
HVRT_STATIC_ASSERT(offsetof(struct hvrt_exit_info, result) == 40, "hvrt_exit_info.result");

/*
 * Creates the hvrt side of a vCPU on the calling thread (which must be the vCPU's thread):
 * vcpu_fd is the KVM vCPU fd (-1 without KVM: exits are then built by hand in run), run its
 * mapped struct kvm_run (never NULL). Registers a reader for the thread (online).
 * Errors: -EFAULT vm, run or out NULL; -EBADF vm not live, or vcpu_fd >= 0 and not open;
 * -EINVAL vcpu_fd < -1; -ENOMEM.
 */
int hvrt_vcpu_create(hvrt_vm *vm, int vcpu_fd, struct kvm_run *run, hvrt_vcpu **out);

/* Destroys a vCPU (its reader too), before hvrt_vm_destroy; on any thread once the vCPU's own
 * thread no longer uses it. NULL or an already destroyed vCPU: no-op. */
void hvrt_vcpu_destroy(hvrt_vcpu *vcpu);

/* The vCPU's reader, for hvrt_reader_translate on the vCPU thread (valid until destroy); NULL
 * for a NULL or destroyed vCPU, or one whose VM was destroyed. */
hvrt_reader *
hvrt_vcpu_reader(hvrt_vcpu *vcpu); /* (two lines: build.sh's export check reads one name a line) */

/* Before KVM_RUN: the reader goes offline (grace periods stop waiting for this thread).
 * Errors (also of hvrt_vcpu_exit, handle_exit, exit_info and run, checked first): -EFAULT vcpu
 * NULL; -EBADF a destroyed vCPU, or its VM destroyed; debug mode: -EPERM not the vCPU's thread.
 * Lock-free, allocation-free. */
int hvrt_vcpu_enter(hvrt_vcpu *vcpu);
/* After KVM_RUN: the reader comes back online. */
int hvrt_vcpu_exit(hvrt_vcpu *vcpu);

/*
 * Handles the exit KVM_RUN just made: kvm_run_ret is its return value and kvm_run_errno errno
 * after it (0 when it returned 0). Call it with the reader online (after hvrt_vcpu_exit); an
 * offline reader is brought online for the MMIO lookup only.
 *
 * KVM_RUN -1, errno EFAULT, exit_reason KVM_EXIT_MEMORY_FAULT (kind MEMORY_FAULT; gpa, size,
 *   to_private = flags & KVM_MEMORY_EXIT_FLAG_PRIVATE): converts [gpa, gpa + size) as
 *   hvrt_convert does (discards, listeners), RESUME. A range already wholly in the requested
 *   state is not converted: RESUME once (another vCPU may have converted it since KVM
 *   reported the fault), but if this vCPU's previous exit was the same fault (same flags, gpa,
 *   size) and hvrt resolved it, -EFAULT: KVM would fault again forever (e.g. a private access
 *   to a slot without private backing). -EFAULT as well on a VM type without private memory,
 *   and for a range KVM never reports (size 0, not 4 KiB aligned, wrapping). flags with any
 *   bit but PRIVATE (a newer kernel's meaning): UNHANDLED, nothing converted.
 * KVM_RUN -1, errno EHWPOISON, exit_reason KVM_EXIT_MEMORY_FAULT: KVM found the page poisoned
 *   (its private/shared state already matched, so it is no conversion request): -EHWPOISON,
 *   kind MEMORY_FAULT with gpa/size decoded; nothing converted.
 * exit_reason KVM_EXIT_HYPERCALL with nr KVM_HC_MAP_GPA_RANGE (kind MAP_GPA_RANGE): gpa =
 *   args[0], args[1] 4 KiB pages, attrs = args[2]. Malformed — attrs bits 63:5 not 0, a
 *   page-size hint (bits 3:0) above KVM_MAP_GPA_RANGE_PAGE_SZ_1G, gpa not 4 KiB aligned,
 *   0 pages, or a range reaching 2^64 — : hypercall.ret = -KVM_EINVAL (as u64), nothing
 *   converted, result -EINVAL, RESUME. The hint asks for no alignment (it is a preference;
 *   KVM and QEMU ignore it). Else converts to private (attrs & KVM_MAP_GPA_RANGE_ENCRYPTED) or
 *   shared, hypercall.ret = 0, RESUME. A conversion that failed in the host returns its -errno
 *   (the VM cannot go on, as QEMU stops it) and sets hypercall.ret = -KVM_EFAULT, so a VMM
 *   that resumes anyway never tells the guest it succeeded. On a VM type without private
 *   memory: UNHANDLED, kind OTHER (nothing for hvrt to convert; e.g. SEV's migration
 *   bookkeeping is the VMM's). hypercall.flags (LONG_MODE) needs nothing: KVM masks the args of
 *   a 32-bit guest and truncates ret.
 * exit_reason KVM_EXIT_MMIO (kind MMIO): classifies phys_addr (address space 1 when kvm_run.flags
 *   has KVM_RUN_X86_SMM and the VM has two) into mmio_class, slot, is_write, size, UNHANDLED.
 * KVM_RUN -1 with EINTR or EAGAIN: UNHANDLED (kind INTERRUPTED). Any other -1: -errno (-EINVAL
 *   if kvm_run_errno is not positive). Anything else: UNHANDLED (kind OTHER).
 *
 * Conversions take the VM's lock with the vCPU's reader offline (listeners run on this thread;
 * hvrt_reader_translate with this reader gives -EPERM inside them). The MMIO and OTHER paths
 * are lock-free and allocation-free.
 * Returns HVRT_EXIT_RESUME, HVRT_EXIT_UNHANDLED or -errno.
 */
int hvrt_vcpu_handle_exit(hvrt_vcpu *vcpu, int kvm_run_ret, int kvm_run_errno);

/* The decoded last exit. Errors: -EFAULT vcpu or info NULL. */
int hvrt_vcpu_exit_info(const hvrt_vcpu *vcpu, struct hvrt_exit_info *info);

/*
 * The loop above: enter, KVM_RUN, exit, handle_exit, until an exit is not RESUME; returns that
 * (HVRT_EXIT_UNHANDLED or -errno). -ENODEV for a vCPU created with vcpu_fd -1.
 */
int hvrt_vcpu_run(hvrt_vcpu *vcpu);

#ifdef __cplusplus
}
#endif

/* Test-only exports (fault injection), not for production: hvrt_testing.h. */
#include "hvrt_testing.h"

#endif /* HVRT_H */
