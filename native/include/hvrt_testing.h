/*
 * hvrt_testing.h — test-only exports of libhvrt.so: fault injection. NOT FOR PRODUCTION: a VMM
 * never calls these; they exist so that hvrt's own tests (native/tests/fault_injection_test.c,
 * the xunit tests) can drive every failure path. Kept out of hvrt.h so that the API a VMM reads
 * is the API a VMM uses; hvrt.h includes this header, so a program that includes only hvrt.h
 * still sees these declarations.
 *
 * Conventions are hvrt.h's (0 or a negative errno). C and C++.
 */
#ifndef HVRT_TESTING_H
#define HVRT_TESTING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Testing hooks                                                                             */
/*
 * TEST-ONLY, NOT FOR PRODUCTION: fault injection (Linux's fail_nth) so that tests can prove that
 * every failure path of hvrt returns -errno and changes nothing. A VMM never calls these. The
 * switch is per process: it counts calls of every VM and thread, so arm it only while one
 * thread runs the operation under test. Disarmed (the default), each site costs one load and a
 * never-taken branch; translation, lookup, hvrt_mark_dirty and reader online/offline have no site.
 *
 * Sites (HVRT_FAULT_* bits). A failed call at any of them fails the operation with the errno
 * below and the operation leaves the VM as it was: slots, translations and their generations,
 * attributes, dirty bitmaps, registered readers, the KVM binding, KVM's slots and their dirty
 * logging, hvrt's private-file duplicates, open fds and memory. As documented for each call,
 * hvrt_convert's discards issued before the failed one stay done (and its sequence moves), and in
 * hvrt_set_user_memory_regions only the entry that failed is not applied. Reserves hvrt keeps for
 * later changes (index leaves, attribute nodes) are not state: a retry may need fewer calls.
 *   ALLOC      every unmanaged allocation of hvrt (snapshots, index leaves, attribute nodes, dirty
 *              bitmaps, reader and vCPU records, the VM itself): the operation returns -ENOMEM
 *              whatever err is. Not the process-wide attribute sentinels (made once per process).
 *   FALLOCATE  fallocate(PUNCH_HOLE) of hvrt_convert to shared: -err. Attributes stay as they
 *              were; pieces punched before the failed call stay punched (see hvrt_convert).
 *   MADVISE    madvise(MADV_REMOVE / MADV_DONTNEED) of hvrt_convert to private: -err (err
 *              EINVAL on MADV_REMOVE takes hvrt's documented MADV_DONTNEED fallback instead).
 *   KVM_IOCTL  every ioctl hvrt issues (bound VM fd: slot, attribute, dirty-log, enable-cap,
 *              check-extension, guest_memfd; vCPU fd: KVM_RUN): as if KVM returned -err (so
 *              hvrt_kvm_bind's probe turns ENOTTY/EINVAL into -ENOTTY, and KVM_RUN's EINTR/EAGAIN
 *              are HVRT_EXIT_UNHANDLED, kind INTERRUPTED).
 *   DUP        the dup of a private fd (the first slot of a file): -EMFILE for err EMFILE, else
 *              -ENOMEM (the slot calls' documented errnos).
 *   MMAP       mmap of a new guest_memfd's shared half (hvrt_create_guest_memfd): -err, no fd left.
 */
#define HVRT_FAULT_ALLOC (1u << 0)
#define HVRT_FAULT_FALLOCATE (1u << 1)
#define HVRT_FAULT_MADVISE (1u << 2)
#define HVRT_FAULT_KVM_IOCTL (1u << 3)
#define HVRT_FAULT_DUP (1u << 4)
#define HVRT_FAULT_MMAP (1u << 5)
#define HVRT_FAULT_ALL 0x3fu

/*
 * Arms the switch: counting from 1, the nth call at any site of `sites` fails with errno `err`
 * (1..4095), once; every other call runs normally. Arming resets the count and the fired site.
 * hvrt_test_fail_nth(0, 0, 0) disarms (the count and fired site stay readable).
 * A test runs an operation for nth = 1, 2, ... until hvrt_test_fault_status reports that no
 * call failed, each run on a VM built afresh by the same calls (on one VM, what a failed run
 * reserved shortens the next run, which would then skip calls); native/tests/fault_injection_test.c.
 * Errors (nothing changes): -EINVAL an unknown site bit; sites not 0 with nth 0 or err outside
 * 1..4095; sites 0 with nth or err not 0.
 * Threading: the switch is process-wide (every VM, every thread counts); each counted call takes
 * one atomic increment, so of concurrent calls exactly one fails. Arm and disarm while no other
 * thread makes calls the test does not mean to count (arming resets the count non-atomically
 * with respect to them).
 */
int hvrt_test_fail_nth(uint32_t sites, uint64_t nth, int err);

/*
 * Since the last arming: *calls = calls counted at the armed sites, *fired = the HVRT_FAULT_*
 * bit of the call that was failed, 0 if none was (nth not reached). Lock-free.
 * Errors: -EFAULT calls or fired NULL.
 */
int hvrt_test_fault_status(uint64_t *calls, uint32_t *fired);

/*
 * Declares the regular file fd (a memfd) a guest_memfd for hvrt's own checks, by its (st_dev,
 * st_ino), for the rest of the process: KVM_SET_USER_MEMORY_REGION2's GUEST_MEMFD then takes it
 * like one (its st_size as the guest_memfd's size). For replaying a kernel's recorded answers
 * (native/tests/kvm_replay_test.c) where no KVM makes real ones; a bound VM's KVM still refuses
 * it. At most 64 files; declaring one twice is 0. Errors: -EBADF fd not open; -EINVAL not a
 * regular file; -ENOSPC full. Thread-safety: any thread (a lock); the check that reads the table
 * is lock-free.
 */
int hvrt_test_stand_in_guest_memfd(int fd);

#ifdef __cplusplus
}
#endif
#endif /* HVRT_TESTING_H */
