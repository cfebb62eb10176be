using System.IO;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Tests.Support;
using Xunit;

// Tests that count the process's fds cannot share the process with tests opening others.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Hvrt.Tests;

/// <summary>hvrt keeps its own duplicate of a private fd and closes it on delete and destroy.</summary>
public unsafe class FdOwnershipTests
{
    /// <summary>
    /// The fds of this process open on the tests' memfds ("hvrt-test"): the caller's and hvrt's
    /// duplicates. Counting every fd of the process let the runtime's own files (opened lazily by
    /// other threads) make the count drift.
    /// </summary>
    private static int OpenFds()
    {
        int n = 0;
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target = null;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                // closed between the listing and the readlink: not ours to count
            }
            n += target != null && target.Contains("memfd:hvrt-test", System.StringComparison.Ordinal) ? 1 : 0;
        }
        return n;
    }

    [Fact]
    public void PrivateFd_IsDuplicated_AndClosedOnDeleteAndDestroy_NoLeak()
    {
        int baseline = OpenFds();
        for (int round = 0; round < 200; round++)
        {
            using var vm = new TestVm();
            int fd = Ffi.Memfd(1 << 20);
            int kept = Ffi.Memfd(4096);
            Assert.Equal(0, vm.Ext(0, 4, 0, 1 << 20, fd: fd));
            Assert.Equal(0, vm.Ext(1, 4, 1 << 30, 4096, fd: kept));
            Ffi.close(fd); // the caller's copy; hvrt's stays open
            Ffi.close(kept);
            Assert.Equal(0, vm.Translate(0, out var t));
            Assert.True(Ffi.FdOpen(t.PrivateFd));
            Assert.Equal(0, vm.V1(0, 0, 0, 0));
            Assert.False(Ffi.FdOpen(t.PrivateFd), "deleting the slot closes hvrt's duplicate");
            Assert.Equal(baseline + 1, OpenFds()); // slot 1's duplicate, until the VM goes
        }
        Assert.Equal(baseline, OpenFds());
    }

    /// <summary>Slots carved from one file share one duplicate, closed with the file's last slot.</summary>
    [Fact]
    public void OneDuplicatePerFile_ClosedWithItsLastSlot()
    {
        int baseline = OpenFds();
        using (var vm = new TestVm())
        {
            int fd = Ffi.Memfd(64 << 12);
            int again = Ffi.fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 0); // another fd, same file
            for (uint i = 0; i < 64; i++)
            {
                Assert.Equal(0, vm.Ext(i, 4, (ulong)i << 21, 4096, offset: (ulong)i << 12, fd: i % 2 == 0 ? fd : again));
            }
            Ffi.close(fd);
            Ffi.close(again);
            Assert.Equal(baseline + 1, OpenFds());
            Assert.Equal(0, vm.Translate(0, out HvrtTranslation t0));
            Assert.Equal(0, vm.Translate(1ul << 9, out HvrtTranslation t1));
            Assert.Equal(t0.PrivateFd, t1.PrivateFd);
            for (uint i = 0; i < 63; i++)
            {
                Assert.Equal(0, vm.V1(i, 0, 0, 0));
            }
            Assert.True(Ffi.FdOpen(t0.PrivateFd), "slot 63 still uses the file");
            Assert.Equal(0, vm.V1(63, 0, 0, 0));
            Assert.False(Ffi.FdOpen(t0.PrivateFd), "the file's last slot is gone: its duplicate is closed");
            Assert.Equal(baseline, OpenFds());
            // Binding the file again (a new fd of a new memfd) works and takes one duplicate again.
            int next = Ffi.Memfd(4096);
            Assert.Equal(0, vm.Ext(5, 4, 0, 4096, fd: next));
            Ffi.close(next);
            Assert.Equal(baseline + 1, OpenFds());
        }
        Assert.Equal(baseline, OpenFds());
    }
}
