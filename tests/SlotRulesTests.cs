using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// KVM's memslot rules (kvm-abi.md §2), one invariant per test, through the exported entry
/// points. The differential test in native/tests proves the same against the real kernel.
/// </summary>
public unsafe class SlotRulesTests
{
    private const uint LogDirty = 1, Readonly = 2, Private = 4;
    private const ulong MiB = 1 << 20;

    [Theory]
    [InlineData(0x1000UL + 1, 0x1000UL, TestVm.Hva)]   // gpa
    [InlineData(0x1000UL, 0x1000UL + 0x800, TestVm.Hva)] // size
    [InlineData(0x1000UL, 0x1000UL, TestVm.Hva + 8)]   // hva
    public void Misaligned_Gpa_Size_Or_Hva_IsEInval(ulong gpa, ulong size, ulong hva)
    {
        using var vm = new TestVm();
        Assert.Equal(E.EINVAL, vm.V1(0, 0, gpa, size, hva));
        Assert.Equal(E.EINVAL, vm.Region2(0, 0, gpa, size, hva));
        Assert.Equal(E.EINVAL, vm.Ext(0, 0, gpa, size, hva));
    }

    [Fact]
    public void Wrapping_Gpa_Or_Hva_IsEInval()
    {
        using var vm = new TestVm();
        Assert.Equal(E.EINVAL, vm.V1(0, 0, 0xfffffffffffff000, 0x2000));
        Assert.Equal(E.EINVAL, vm.V1(0, 0, 0, 0x2000, 0xfffffffffffff000));
    }

    [Fact]
    public void UserAddressLimit_IsInclusiveOfTheEnd()
    {
        // access_ok(hva, size): hva + size may equal TASK_SIZE_MAX, not pass it.
        using var vm = new TestVm(new HvrtVmConfig { UserAddrLimit = 0x7ffffffff000 });
        Assert.Equal(0, vm.V1(0, 0, 0, 0x1000, 0x7fffffffe000));
        Assert.Equal(E.EINVAL, vm.V1(1, 0, 0x10000, 0x2000, 0x7fffffffe000));
        Assert.Equal(E.EINVAL, vm.V1(1, 0, 0x10000, 0x1000, 0x800000000000));
    }

    [Theory]
    [InlineData(Private)]
    [InlineData(8u)]
    [InlineData(1u << 16)]
    [InlineData(1u << 31)]
    public void V1_RefusesEveryFlagButLogDirtyAndReadonly(uint flag)
    {
        using var vm = new TestVm();
        Assert.Equal(E.EINVAL, vm.V1(0, flag, 0, 0x1000));
        Assert.Equal(0, vm.V1(0, LogDirty | Readonly, 0, 0x1000));
    }

    [Theory]
    [InlineData(Private | Readonly)]
    [InlineData(Private | LogDirty)]
    [InlineData(8u)]
    [InlineData(1u << 16)]
    public void Region2_UnknownOrIncompatibleFlags_AreEInval(uint flags)
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(E.EINVAL, vm.Region2(0, flags, 0, 0x1000, fd: fd));
        Assert.Equal(E.EINVAL, vm.Ext(0, flags, 0, 0x1000, fd: fd));
        Ffi.close(fd);
    }

    [Fact]
    public void PrivateOffset_MisalignedOrWrapping_IsEInval_EvenOnDelete()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0, 0x1000, offset: 0x10, fd: fd));
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0, 0x2000, offset: 0xfffffffffffff000, fd: fd));
        Assert.Equal(0, vm.Ext(0, Private, 0, 0x1000, fd: fd));
        // The offset check comes before the delete classification, as in KVM.
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0, 0, offset: 0x10, fd: fd));
        Assert.Equal(0, vm.Ext(0, Private, 0, 0, offset: 0, fd: 999999));
        Ffi.close(fd);
    }

    [Fact]
    public void AddressSpace_And_SlotId_Limits()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(1u << 16 | 5, 0, 0, 0x1000));
        Assert.Equal(E.EINVAL, vm.V1(2u << 16, 0, 0, 0x1000));
        Assert.Equal(0, vm.V1(32763, 0, 0, 0x1000));
        Assert.Equal(E.EINVAL, vm.V1(32764, 0, 0x10000, 0x1000));
        Assert.Equal(E.EINVAL, vm.V1(0xffff, 0, 0x10000, 0x1000));

        using var one = new TestVm(new HvrtVmConfig { NrAddressSpaces = 1, MaxUserSlots = 10 });
        Assert.Equal(E.EINVAL, one.V1(1u << 16, 0, 0, 0x1000));
        Assert.Equal(0, one.V1(9, 0, 0, 0x1000));
        Assert.Equal(E.EINVAL, one.V1(10, 0, 0x10000, 0x1000));
    }

    [Fact]
    public void SlotSize_IsLimitedTo2Pow31MinusOnePages()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, ((1UL << 31) - 1) << 12, 0x100000000));
        Assert.Equal(E.EINVAL, vm.V1(1, 0, 1UL << 44, (1UL << 31) << 12, 0x100000000));
    }

    [Fact]
    public void SlotPastMaxGpaBits_IsEInval_ButOverlapWins()
    {
        using var vm = new TestVm(new HvrtVmConfig { MaxGpaBits = 40 });
        Assert.Equal(0, vm.V1(0, 0, (1UL << 40) - 0x1000, 0x1000));
        Assert.Equal(E.EINVAL, vm.V1(1, 0, 1UL << 40, 0x1000));
        Assert.Equal(E.EEXIST, vm.V1(1, 0, (1UL << 40) - 0x1000, 0x2000));
    }

    [Fact]
    public void Delete_OfMissingSlot_IsEInval()
    {
        using var vm = new TestVm();
        Assert.Equal(E.EINVAL, vm.V1(3, 0, 0, 0));
        Assert.Equal(0, vm.V1(3, 0, 0, 0x1000));
        Assert.Equal(0, vm.V1(3, 0, 0x5000, 0, 0x1000));
        Assert.Equal(E.EINVAL, vm.V1(3, 0, 0, 0));
    }

    [Fact]
    public void Overlap_InOneAddressSpace_IsEExist_AcrossAddressSpaces_Allowed()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0x10000, 0x4000));
        Assert.Equal(E.EEXIST, vm.V1(1, 0, 0x13000, 0x4000));
        Assert.Equal(E.EEXIST, vm.V1(1, 0, 0xf000, 0x2000));
        Assert.Equal(0, vm.V1(1, 0, 0x14000, 0x4000));
        Assert.Equal(0, vm.V1(1u << 16, 0, 0x10000, 0x4000));
    }

    [Fact]
    public void Move_IsAllowedOntoItsOwnOldRange_NotOntoAnotherSlot()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0x10000, 0x4000));
        Assert.Equal(0, vm.V1(1, 0, 0x20000, 0x4000, TestVm.Hva + 0x100000));
        Assert.Equal(0, vm.V1(0, 0, 0x12000, 0x4000));
        Assert.Equal(0, vm.Translate(0x12, out HvrtTranslation t));
        Assert.Equal(0x12UL, t.BaseGfn);
        Assert.Equal(TestVm.Hva, t.Hva);
        Assert.Equal(E.ENOENT, vm.Translate(0x11, out _));
        Assert.Equal(E.EEXIST, vm.V1(0, 0, 0x1e000, 0x4000));
    }

    [Fact]
    public void Move_TakesTheRequestsFlags()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, LogDirty, 0x10000, 0x4000));
        Assert.Equal(0, vm.V1(0, 0, 0x20000, 0x4000));
        Assert.Equal(0, vm.Translate(0x20, out HvrtTranslation t));
        Assert.Equal(0u, t.Flags);
        Assert.Equal(0, vm.V1(0, LogDirty, 0x30000, 0x4000));
        Assert.Equal(0, vm.Translate(0x30, out t));
        Assert.Equal(HvrtTranslation.FlagLogDirty, t.Flags);
    }

    [Fact]
    public void ChangingHvaSizeOrReadonly_OfAnExistingSlot_IsEInval()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0x10000, 0x4000));
        Assert.Equal(E.EINVAL, vm.V1(0, 0, 0x10000, 0x4000, TestVm.Hva + 0x1000));
        Assert.Equal(E.EINVAL, vm.V1(0, 0, 0x10000, 0x8000));
        Assert.Equal(E.EINVAL, vm.V1(0, Readonly, 0x10000, 0x4000));
    }

    [Fact]
    public void FlagsOnly_And_NoOp_AreAccepted_AndOnlyAChangeBumpsTheGeneration()
    {
        using var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0x10000, 0x4000));
        ulong g0 = vm.Generation();
        Assert.Equal(0, vm.V1(0, 0, 0x10000, 0x4000));
        Assert.Equal(g0, vm.Generation());
        Assert.Equal(0, vm.V1(0, LogDirty, 0x10000, 0x4000));
        Assert.Equal(g0 + 2, vm.Generation());
        Assert.Equal(0, vm.Translate(0x10, out HvrtTranslation t));
        Assert.Equal(HvrtTranslation.FlagLogDirty, t.Flags);
    }

    [Fact]
    public void Generations_AreDistinctPerAddressSpace()
    {
        using var vm = new TestVm();
        Assert.Equal(0UL, vm.Generation(0));
        Assert.Equal(1UL, vm.Generation(1));
        Assert.Equal(0, vm.V1(1u << 16, 0, 0, 0x1000));
        Assert.Equal(3UL, vm.Generation(1));
        Assert.Equal(0, vm.Translate(0, out HvrtTranslation t, asId: 1));
        Assert.Equal(3UL, t.Generation);
        Assert.Equal(1u << 16, t.Slot);
    }

    [Fact]
    public void PrivateSlots_AreImmutable_OnlyDeleteWorks()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(0, vm.Ext(0, Private, 0x10000, 0x4000, fd: fd));
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0x10000, 0x4000, fd: fd));    // identical
        Assert.Equal(E.EINVAL, vm.V1(0, 0, 0x10000, 0x4000));                  // drop the flag
        Assert.Equal(E.EINVAL, vm.V1(0, LogDirty, 0x10000, 0x4000));
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0x20000, 0x4000, fd: fd));    // move
        Assert.Equal(0, vm.V1(0, 0, 0, 0));
        Ffi.close(fd);
    }

    [Fact]
    public void PrivateFd_Errors_FollowKvmBindOrder()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(E.EBADF, vm.Ext(0, Private, 0, 0x1000, fd: 999999));
        Assert.Equal(E.EBADF, vm.Ext(0, Private, 0, 0x1000, fd: -1));
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0, 0x1000, offset: MiB, fd: fd));       // past the end
        Assert.Equal(0, vm.Ext(0, Private, 0, MiB, fd: fd));                               // exactly the file
        Assert.Equal(E.EEXIST, vm.Ext(1, Private, 0, 0x1000, fd: 999999));                 // overlap before fd
        Assert.Equal(E.EINVAL, vm.Ext(1, Private, 0x1000000, 0x1000, offset: 0xff000, fd: fd)); // page already bound
        Assert.Equal(E.EINVAL, vm.Ext(1u << 16, Private, 0, 0x1000, fd: fd));              // in any address space
        Ffi.close(fd);
    }

    [Fact]
    public void Region2_NeedsARealGuestMemfd_ExtTakesAMemfd()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(E.EINVAL, vm.Region2(0, Private, 0, 0x1000, fd: fd));
        Assert.Equal(0, vm.Ext(0, Private, 0, 0x1000, fd: fd));
        Ffi.close(fd);
    }

    [SkippableFact]
    public void Region2_AcceptsAGuestMemfd_WithKvmsSignedOffsetArithmetic()
    {
        int vmFd = Support.Kvm.CreateVm(out string why);
        Skip.If(vmFd < 0, why);
        int gmem = Support.Kvm.CreateGuestMemfd(vmFd, MiB);
        if (gmem < 0)
        {
            Ffi.close(vmFd);
        }
        // A kernel may be built without guest_memfd (-ENOTTY): nothing to bind here.
        Skip.If(gmem == -25, "this KVM has no guest_memfd (KVM_CREATE_GUEST_MEMFD: -ENOTTY)");
        Assert.True(gmem >= 0, $"KVM_CREATE_GUEST_MEMFD: {gmem}");
        using var vm = new TestVm();
        Assert.Equal(0, vm.Region2(0, Private, 0, MiB, fd: gmem));
        Assert.Equal(E.EINVAL, vm.Region2(1, Private, 0x10000000, 0x1000, offset: MiB, fd: gmem));
        // loff_t offset + size wraps negative and passes KVM's end check; hvrt gives the same answer.
        Assert.Equal(0, vm.Region2(1, Private, 0x10000000, 0x2000, offset: (1UL << 63) - 0x1000, fd: gmem));
        Assert.Equal(E.EINVAL, vm.Region2(2, Private, 0x20000000, 0x1000, offset: 1UL << 63, fd: gmem));
        Ffi.close(gmem);
        Ffi.close(vmFd);
    }

    [Fact]
    public void DisjointRangesOfOneFile_MayBackTwoSlots_AndARangeIsFreeAgainAfterDelete()
    {
        using var vm = new TestVm();
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(0, vm.Ext(0, Private, 0, 0x1000, offset: 0, fd: fd));
        Assert.Equal(0, vm.Ext(1, Private, 0x10000, 0x1000, offset: 0x1000, fd: fd));
        Assert.Equal(0, vm.V1(0, 0, 0, 0));
        Assert.Equal(0, vm.Ext(2, Private, 0x20000, 0x1000, offset: 0, fd: fd));
        Ffi.close(fd);
    }

    [Fact]
    public void ExtRefusesNonRegularFiles()
    {
        using var vm = new TestVm();
        int dir = open("/", 0x10000 /* O_DIRECTORY */);
        Assert.True(dir >= 0);
        Assert.Equal(E.EINVAL, vm.Ext(0, Private, 0, 0x1000, fd: dir));
        Ffi.close(dir);
    }

    [Theory]
    [InlineData(3u)] // SEV-ES
    [InlineData(4u)] // SNP
    [InlineData(5u)] // TDX
    public void ProtectedStateTypes_RefuseReadonly(uint vmType)
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = vmType });
        Assert.Equal(E.EINVAL, vm.V1(0, Readonly, 0, 0x1000));
        Assert.Equal(0, vm.V1(0, 0, 0, 0x1000));
    }

    // The newest profile (6.18) takes guest_memfd slots on every type, SEV and SEV-ES included.
    [Theory]
    [InlineData(2u, true, 2u)]
    [InlineData(3u, true, 2u)]
    [InlineData(1u, true, 1u)]
    [InlineData(4u, true, 1u)]
    [InlineData(5u, true, 1u)]
    [InlineData(0u, true, 2u)]
    public void VmType_DecidesPrivateSlots_AndAddressSpaces(uint vmType, bool privateOk, uint addressSpaces)
    {
        using var vm = new TestVm(new HvrtVmConfig { VmType = vmType });
        int fd = Ffi.Memfd((long)MiB);
        Assert.Equal(privateOk ? 0 : E.EINVAL, vm.Ext(0, Private, 0, 0x1000, fd: fd));
        Assert.Equal(addressSpaces == 2 ? 0 : E.EINVAL, vm.V1(1u << 16, 0, 0, 0x1000));
        Ffi.close(fd);
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int open(string path, int flags);
}
