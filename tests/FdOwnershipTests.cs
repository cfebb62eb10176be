using System.IO;
using Hvrt.Tests.Support;
using Xunit;

// Tests that count the process's fds cannot share the process with tests opening others.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Hvrt.Tests;

/// <summary>hvrt keeps its own duplicate of a private fd and closes it on delete and destroy.</summary>
public unsafe class FdOwnershipTests
{
    private static int OpenFds() => Directory.GetFiles("/proc/self/fd").Length;

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
}
