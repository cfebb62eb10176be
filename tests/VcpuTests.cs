using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.RunLoop;
using Hvrt.Slots;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// hvrt_vcpu_*: exits built by hand in a struct kvm_run (this host's KVM makes neither memory
/// fault nor hypercall exits), the decoded info, the reader's states and the hot path's cost.
/// </summary>
public unsafe class VcpuTests
{
    private const ulong Page = 4096;
    private const int EFAULT = 14, EHWPOISON = 133, EINTR = 4, EAGAIN = 11, EIO = 5;
    private const ulong GuestEInval = unchecked((ulong)-22);

    /// <summary>A VM type with private memory (SW_PROTECTED), its vCPU and kvm_run; disposed together.</summary>
    private sealed class Rig : IDisposable
    {
        public readonly TestVm Vm;
        public readonly byte* Run;
        public readonly Vcpu* V;

        public Rig(uint vmType = 1)
        {
            Vm = new TestVm(new HvrtVmConfig { VmType = vmType });
            Run = VcpuFfi.NewRun();
            V = VcpuFfi.Create(Vm.Handle, Run);
        }

        public int Handle(int ret = 0, int err = 0) => VcpuFfi.Handle(V, ret, err);

        public HvrtExitInfo Info => VcpuFfi.Info(V);

        public ulong Attr(ulong gfn) => AttrFfi.Get(Vm.Handle, gfn);

        /// <summary>
        /// A slot change from the vCPU thread: only with the reader offline (hvrt.h), else the
        /// change would wait for this very thread's reader forever.
        /// </summary>
        public int V1(uint slot, uint flags, ulong gpa, ulong size, ulong hva)
        {
            Assert.Equal(0, VcpuFfi.Enter(V));
            int r = Vm.V1(slot, flags, gpa, size, hva);
            Assert.Equal(0, VcpuFfi.Exit(V));
            return r;
        }

        public void Dispose()
        {
            VcpuFfi.Destroy(V);
            Vm.Dispose();
            VcpuFfi.FreeRun(Run);
        }
    }

    [Fact]
    public void Layout_ExitInfoIs64Bytes_AsInHvrtH()
    {
        Assert.Equal(64, sizeof(HvrtExitInfo));
        Assert.Equal(8, (int)Marshal.OffsetOf<HvrtExitInfo>(nameof(HvrtExitInfo.Gpa)));
        Assert.Equal(24, (int)Marshal.OffsetOf<HvrtExitInfo>(nameof(HvrtExitInfo.ToPrivate)));
        Assert.Equal(36, (int)Marshal.OffsetOf<HvrtExitInfo>(nameof(HvrtExitInfo.Slot)));
        Assert.Equal(40, (int)Marshal.OffsetOf<HvrtExitInfo>(nameof(HvrtExitInfo.Result)));
    }

    [Fact]
    public void Create_ChecksArguments_AndRegistersAnOnlineReader()
    {
        using var vm = new TestVm();
        byte* run = VcpuFfi.NewRun();
        try
        {
            Vcpu* v;
            Assert.Equal(E.EFAULT, VcpuFfi.Create(null, -1, run, &v));
            Assert.Equal(E.EFAULT, VcpuFfi.Create(vm.Handle, -1, null, &v));
            Assert.Equal(E.EFAULT, VcpuFfi.Create(vm.Handle, -1, run, null));
            Assert.Equal(E.EINVAL, VcpuFfi.Create(vm.Handle, -2, run, &v));
            Assert.Equal(E.EBADF, VcpuFfi.Create(vm.Handle, 987654, run, &v));
            VmHandle fake = default;
            Assert.Equal(E.EBADF, VcpuFfi.Create(&fake, -1, run, &v));

            Assert.Equal(0, VcpuFfi.Create(vm.Handle, -1, run, &v));
            ReaderRecord* r = VcpuFfi.Reader(v);
            Assert.True(r != null);
            Assert.True(ReaderRecord.IsLive(r));
            Assert.NotEqual(0UL, r->Ctr);
            Assert.Equal(-Errno.ENODEV, VcpuFfi.Run(v));
            Assert.Equal(uint.MaxValue, VcpuFfi.Info(v).Slot);
            VcpuFfi.Destroy(v);
            Assert.False(ReaderRecord.IsLive(r));

            Assert.Equal(E.EFAULT, VcpuFfi.Handle(null, 0, 0));
            Assert.Equal(E.EFAULT, VcpuFfi.Enter(null));
            Assert.Equal(E.EFAULT, VcpuFfi.Exit(null));
            Assert.Equal(E.EFAULT, VcpuFfi.Run(null));
            HvrtExitInfo i;
            Assert.Equal(E.EFAULT, VcpuFfi.Info(null, &i));
            Assert.True(VcpuFfi.Reader(null) == null);
            VcpuFfi.Destroy(null);
        }
        finally
        {
            VcpuFfi.FreeRun(run);
        }
    }

    [Fact]
    public void ExitInfo_NullInfo_IsEFault()
    {
        using var rig = new Rig();
        Assert.Equal(E.EFAULT, VcpuFfi.Info(rig.V, null));
    }

    [Fact]
    public void EnterExit_TakeTheReaderOfflineAndBack()
    {
        using var rig = new Rig();
        ReaderRecord* r = VcpuFfi.Reader(rig.V);
        Assert.Equal(0, VcpuFfi.Enter(rig.V));
        Assert.Equal(0UL, r->Ctr);
        Assert.Equal(0, VcpuFfi.Exit(rig.V));
        Assert.NotEqual(0UL, r->Ctr);
    }

    // ---- memory faults -------------------------------------------------------------------

    [Fact]
    public void MemoryFault_ConvertsToPrivateAndBack()
    {
        using var rig = new Rig();
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 5 * Page);
        Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
        Assert.Equal(AttrFfi.Private, rig.Attr(5));
        Assert.Equal(0UL, rig.Attr(4));
        Assert.Equal(0UL, rig.Attr(6));
        HvrtExitInfo i = rig.Info;
        Assert.Equal(HvrtExitInfo.KindMemoryFault, i.Kind);
        Assert.Equal(39u, i.ExitReason);
        Assert.Equal(5 * Page, i.Gpa);
        Assert.Equal(Page, i.Size);
        Assert.Equal(1u, i.ToPrivate);
        Assert.Equal(0L, i.Result);

        VcpuFfi.MemoryFault(rig.Run, 0, 4 * Page, 2 * Page);
        Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
        Assert.Equal(0UL, rig.Attr(5));
        Assert.Equal(0u, rig.Info.ToPrivate);
    }

    [Fact]
    public void MemoryFault_SameFaultAgainAfterConverting_IsEFault()
    {
        using var rig = new Rig();
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 5 * Page);
        Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
        ulong seq = ConvFfi.Seq(rig.Vm.Handle);
        Assert.Equal(E.EFAULT, rig.Handle(-1, EFAULT));
        Assert.Equal((long)E.EFAULT, rig.Info.Result);
        Assert.Equal(HvrtExitInfo.KindMemoryFault, rig.Info.Kind);
        Assert.Equal(seq, ConvFfi.Seq(rig.Vm.Handle));
    }

    [Fact]
    public void MemoryFault_AlreadyConverted_ResumesOnce_ThenEFault()
    {
        using var rig = new Rig();
        Assert.Equal(0, ConvFfi.ConvertPages(rig.Vm.Handle, 7, 1, true)); // another vCPU won the race
        ulong seq = ConvFfi.Seq(rig.Vm.Handle);
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 7 * Page);
        Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
        Assert.Equal(seq, ConvFfi.Seq(rig.Vm.Handle));
        Assert.Equal(E.EFAULT, rig.Handle(-1, EFAULT));
        // Any other exit in between starts over: one retry again.
        VcpuFfi.Mmio(rig.Run, 0x100000, 4, true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 7 * Page);
        Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
        // A different fault after a resolved one is not "the same fault".
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 8 * Page);
        Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
        Assert.Equal(AttrFfi.Private, rig.Attr(8));
    }

    [Fact]
    public void MemoryFault_HwPoison_IsEHwPoison_AndConvertsNothing()
    {
        using var rig = new Rig();
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 5 * Page);
        Assert.Equal(-EHWPOISON, rig.Handle(-1, EHWPOISON));
        Assert.Equal(0UL, rig.Attr(5));
        HvrtExitInfo i = rig.Info;
        Assert.Equal(HvrtExitInfo.KindMemoryFault, i.Kind);
        Assert.Equal(5 * Page, i.Gpa);
        Assert.Equal((long)-EHWPOISON, i.Result);
    }

    [Fact]
    public void ExitReason39_WithAnotherErrno_IsThatErrno_NotAFault()
    {
        using var rig = new Rig();
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 5 * Page);
        Assert.Equal(-EIO, rig.Handle(-1, EIO));
        Assert.Equal(0UL, rig.Attr(5));
        Assert.Equal(HvrtExitInfo.KindOther, rig.Info.Kind);
        Assert.Equal((long)-EIO, rig.Info.Result);
        // EFAULT with another (stale) exit reason is KVM_RUN's plain error.
        *(uint*)(rig.Run + 8) = 2;
        Assert.Equal(E.EFAULT, rig.Handle(-1, EFAULT));
        Assert.Equal(0UL, rig.Attr(5));
        // 0 for a memory fault exit: KVM never does that; not a fault.
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 5 * Page);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle(0, 0));
        Assert.Equal(HvrtExitInfo.KindOther, rig.Info.Kind);
        Assert.Equal(0UL, rig.Attr(5));
        // -1 without an errno.
        Assert.Equal(E.EINVAL, rig.Handle(-1, 0));
    }

    [Fact]
    public void MemoryFault_UnknownFlags_Unhandled_AndNoPrivateMemory_EFault()
    {
        using (var rig = new Rig())
        {
            VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate | 1UL << 4, 5 * Page);
            Assert.Equal(VcpuFfi.Unhandled, rig.Handle(-1, EFAULT));
            Assert.Equal(HvrtExitInfo.KindMemoryFault, rig.Info.Kind);
            Assert.Equal(0UL, rig.Attr(5));
            VcpuFfi.MemoryFault(rig.Run, 0, 5 * Page + 1);
            Assert.Equal(E.EFAULT, rig.Handle(-1, EFAULT));
            VcpuFfi.MemoryFault(rig.Run, 0, 5 * Page, 0);
            Assert.Equal(E.EFAULT, rig.Handle(-1, EFAULT));
        }
        using (var rig = new Rig(vmType: 0))
        {
            VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 5 * Page);
            Assert.Equal(E.EFAULT, rig.Handle(-1, EFAULT));
            Assert.Equal(HvrtExitInfo.KindMemoryFault, rig.Info.Kind);
        }
    }

    // ---- KVM_HC_MAP_GPA_RANGE ------------------------------------------------------------

    [Fact]
    public void MapGpaRange_Valid_ConvertsWritesRet0AndResumes()
    {
        using var rig = new Rig();
        VcpuFfi.Hypercall(rig.Run, 12, 0x10 * Page, 4, VcpuFfi.Encrypted);
        *(ulong*)(rig.Run + 88) = 0xdead;
        Assert.Equal(VcpuFfi.Resume, rig.Handle());
        Assert.Equal(0UL, VcpuFfi.Ret(rig.Run));
        for (ulong g = 0xf; g < 0x15; g++)
        {
            Assert.Equal(g is >= 0x10 and < 0x14 ? AttrFfi.Private : 0, rig.Attr(g));
        }
        HvrtExitInfo i = rig.Info;
        Assert.Equal(HvrtExitInfo.KindMapGpaRange, i.Kind);
        Assert.Equal(3u, i.ExitReason);
        Assert.Equal(0x10 * Page, i.Gpa);
        Assert.Equal(4 * Page, i.Size);
        Assert.Equal(1u, i.ToPrivate);
        Assert.Equal(0L, i.Result);

        // To shared, a 2M page-size hint on a range that is not 2M aligned: a preference only.
        VcpuFfi.Hypercall(rig.Run, 12, 0x11 * Page, 2, 1);
        Assert.Equal(VcpuFfi.Resume, rig.Handle());
        Assert.Equal(0UL, VcpuFfi.Ret(rig.Run));
        Assert.Equal(AttrFfi.Private, rig.Attr(0x10));
        Assert.Equal(0UL, rig.Attr(0x11));
        Assert.Equal(0UL, rig.Attr(0x12));
        Assert.Equal(AttrFfi.Private, rig.Attr(0x13));
        // A 32-bit guest (flags 0) and hint 1G: the same.
        VcpuFfi.Hypercall(rig.Run, 12, 0x13 * Page, 1, 2, flags: 0);
        Assert.Equal(VcpuFfi.Resume, rig.Handle());
        Assert.Equal(0UL, rig.Attr(0x13));
    }

    public static IEnumerable<object[]> Malformed() => new[]
    {
        new object[] { 0x10 * Page, 1UL, 1UL << 5 },            // attrs bit 5
        new object[] { 0x10 * Page, 1UL, 1UL << 63 },           // attrs bit 63
        new object[] { 0x10 * Page, 1UL, 3UL },                 // page-size hint 3
        new object[] { 0x10 * Page, 1UL, 0xFUL | 1UL << 4 },    // hint 15
        new object[] { 0x10 * Page + 8, 1UL, 0UL },             // gpa not aligned
        new object[] { 0x10 * Page, 0UL, 1UL << 4 },            // 0 pages
        new object[] { 1UL << 63, 1UL << 51, 1UL << 4 },        // ends at 2^64
        new object[] { ulong.MaxValue - 4095, 1UL, 0UL },       // last page: ends at 2^64
        new object[] { 0x10 * Page, ulong.MaxValue, 1UL << 4 }, // gfn + npages wraps
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MapGpaRange_Malformed_RetEInval_ResumesWithoutConverting(ulong gpa, ulong npages, ulong attrs)
    {
        using var rig = new Rig();
        ulong seq = ConvFfi.Seq(rig.Vm.Handle);
        VcpuFfi.Hypercall(rig.Run, 12, gpa, npages, attrs);
        Assert.Equal(VcpuFfi.Resume, rig.Handle());
        Assert.Equal(GuestEInval, VcpuFfi.Ret(rig.Run));
        Assert.Equal(seq, ConvFfi.Seq(rig.Vm.Handle));
        Assert.Equal(0UL, rig.Attr(0x10));
        HvrtExitInfo i = rig.Info;
        Assert.Equal(HvrtExitInfo.KindMapGpaRange, i.Kind);
        Assert.Equal((long)E.EINVAL, i.Result);
        Assert.Equal(0UL, i.Size);
    }

    [Fact]
    public void MapGpaRange_UpToTheLastPageBelow2Pow64_IsValid()
    {
        using var rig = new Rig();
        VcpuFfi.Hypercall(rig.Run, 12, ulong.MaxValue - 2 * 4096 + 1, 1, 1UL << 4);
        Assert.Equal(VcpuFfi.Resume, rig.Handle());
        Assert.Equal(0UL, VcpuFfi.Ret(rig.Run));
        Assert.Equal(AttrFfi.Private, rig.Attr((1UL << 52) - 2));
    }

    [Fact]
    public void Hypercall_OtherNr_IsUnhandledOther_RetUntouched()
    {
        using var rig = new Rig();
        VcpuFfi.Hypercall(rig.Run, 11, 0x10 * Page, 1, 1UL << 4);
        *(ulong*)(rig.Run + 88) = 77;
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal(77UL, VcpuFfi.Ret(rig.Run));
        Assert.Equal(HvrtExitInfo.KindOther, rig.Info.Kind);
        Assert.Equal(3u, rig.Info.ExitReason);
        Assert.Equal(0UL, rig.Attr(0x10));
    }

    [Fact]
    public void MapGpaRange_OnAVmWithoutPrivateMemory_IsUnhandledOther()
    {
        using var rig = new Rig(vmType: 0);
        VcpuFfi.Hypercall(rig.Run, 12, 0x10 * Page, 1, 1UL << 4);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal(HvrtExitInfo.KindOther, rig.Info.Kind);
        Assert.Equal(0UL, VcpuFfi.Ret(rig.Run));
    }

    [Fact]
    public void MapGpaRange_HostFailure_ReturnsErrno_AndRetIsAnError()
    {
        using var rig = new Rig();
        ulong gone = 0x100000000000;
        Assert.True(ConvFfi.Unmapped(gone));
        Assert.Equal(0, rig.V1(1, 0, 0x100 * Page, Page, gone));
        VcpuFfi.Hypercall(rig.Run, 12, 0x100 * Page, 1, 1UL << 4);
        Assert.Equal(-Errno.ENOMEM, rig.Handle());
        Assert.Equal(unchecked((ulong)-EFAULT), VcpuFfi.Ret(rig.Run));
        Assert.Equal((long)-Errno.ENOMEM, rig.Info.Result);
        Assert.Equal(0UL, rig.Attr(0x100));
        // A memory fault on the same page: the same -errno.
        VcpuFfi.MemoryFault(rig.Run, VcpuFfi.FaultPrivate, 0x100 * Page);
        Assert.Equal(-Errno.ENOMEM, rig.Handle(-1, EFAULT));
    }

    /// <summary>What the listener saw, and whether the vCPU's reader was offline meanwhile.</summary>
    private sealed class Seen
    {
        public ReaderRecord* Reader;
        public readonly List<(ulong Gpa, ulong Size, int ToPrivate, ulong Ctr)> Calls = new();
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnConvert(nint ctx, ulong gpa, ulong size, int toPrivate)
    {
        var s = (Seen)GCHandle.FromIntPtr(ctx).Target!;
        s.Calls.Add((gpa, size, toPrivate, s.Reader->Ctr));
    }

    [Fact]
    public void Conversions_NotifyListeners_WithTheReaderOffline()
    {
        using var rig = new Rig();
        var seen = new Seen { Reader = VcpuFfi.Reader(rig.V) };
        GCHandle h = GCHandle.Alloc(seen);
        try
        {
            Assert.Equal(0, ConvFfi.AddListener(rig.Vm.Handle, &OnConvert, GCHandle.ToIntPtr(h)));
            VcpuFfi.Hypercall(rig.Run, 12, 0x20 * Page, 3, 1UL << 4);
            Assert.Equal(VcpuFfi.Resume, rig.Handle());
            VcpuFfi.MemoryFault(rig.Run, 0, 0x21 * Page);
            Assert.Equal(VcpuFfi.Resume, rig.Handle(-1, EFAULT));
            Assert.Equal(new[] { (0x20 * Page, 3 * Page, 1, 0UL), (0x21 * Page, Page, 0, 0UL) }, seen.Calls.ToArray());
            Assert.NotEqual(0UL, seen.Reader->Ctr); // back online
            Assert.Equal(0, ConvFfi.RemoveListener(rig.Vm.Handle, &OnConvert, GCHandle.ToIntPtr(h)));
        }
        finally
        {
            h.Free();
        }
    }

    // ---- MMIO and the rest ---------------------------------------------------------------

    private static Rig MmioRig()
    {
        var rig = new Rig();
        Assert.Equal(0, rig.V1(0, 0, 0, 16 * Page, 0x100000000));
        Assert.Equal(0, rig.V1(3, 2, 32 * Page, 8 * Page, 0x200000000));
        return rig;
    }

    [Fact]
    public void Mmio_Classes()
    {
        using Rig rig = MmioRig();
        VcpuFfi.Mmio(rig.Run, 0x10000000, 4, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        HvrtExitInfo i = rig.Info;
        Assert.Equal((HvrtExitInfo.KindMmio, 6u, 0x10000000UL, 4UL, 1u, HvrtExitInfo.MmioDevice, uint.MaxValue, 0L),
            (i.Kind, i.ExitReason, i.Gpa, i.Size, i.IsWrite, i.MmioClass, i.Slot, i.Result));

        VcpuFfi.Mmio(rig.Run, 33 * Page + 6, 2, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        i = rig.Info;
        Assert.Equal((HvrtExitInfo.MmioReadonlyWrite, 3u, 33 * Page + 6, 2UL, 1u), (i.MmioClass, i.Slot, i.Gpa, i.Size, i.IsWrite));

        VcpuFfi.Mmio(rig.Run, 33 * Page, 8, write: false);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        i = rig.Info;
        Assert.Equal((HvrtExitInfo.MmioInSlot, 3u, 0u), (i.MmioClass, i.Slot, i.IsWrite));

        VcpuFfi.Mmio(rig.Run, 2 * Page, 1, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal((HvrtExitInfo.MmioInSlot, 0u), (rig.Info.MmioClass, rig.Info.Slot));

        Assert.Equal(0, ConvFfi.SetPolicy(rig.Vm.Handle, 0)); // the slot's hva is not mapped
        Assert.Equal(0, ConvFfi.ConvertPages(rig.Vm.Handle, 2, 1, true));
        Assert.Equal(0, ConvFfi.ConvertPages(rig.Vm.Handle, 0x10000, 1, true));
        VcpuFfi.Mmio(rig.Run, 2 * Page, 1, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal((HvrtExitInfo.MmioPrivate, 0u), (rig.Info.MmioClass, rig.Info.Slot));
        VcpuFfi.Mmio(rig.Run, 0x10000000, 4, write: false);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal((HvrtExitInfo.MmioPrivate, uint.MaxValue), (rig.Info.MmioClass, rig.Info.Slot));
        VcpuFfi.Mmio(rig.Run, 3 * Page, 4, write: false);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal(HvrtExitInfo.MmioInSlot, rig.Info.MmioClass);
    }

    [Fact]
    public void Mmio_InSmm_UsesAddressSpace1()
    {
        using var rig = new Rig(vmType: 0); // two address spaces
        Assert.Equal(0, rig.V1(1u << 16 | 7, 0, 0x30 * Page, 4 * Page, 0x400000000));
        VcpuFfi.Mmio(rig.Run, 0x31 * Page, 4, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal(HvrtExitInfo.MmioDevice, rig.Info.MmioClass);
        VcpuFfi.Mmio(rig.Run, 0x31 * Page, 4, write: true, runFlags: 1);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal((HvrtExitInfo.MmioInSlot, 1u << 16 | 7), (rig.Info.MmioClass, rig.Info.Slot));
        // A VM with one address space ignores the SMM flag.
        using var one = new Rig(vmType: 1);
        Assert.Equal(0, one.V1(0, 0, 0x30 * Page, 4 * Page, 0x400000000));
        VcpuFfi.Mmio(one.Run, 0x31 * Page, 4, write: false, runFlags: 1);
        Assert.Equal(VcpuFfi.Unhandled, one.Handle());
        Assert.Equal((HvrtExitInfo.MmioInSlot, 0u), (one.Info.MmioClass, one.Info.Slot));
    }

    [Fact]
    public void Mmio_WithTheReaderOffline_LooksUpAndLeavesItOffline()
    {
        using Rig rig = MmioRig();
        Assert.Equal(0, VcpuFfi.Enter(rig.V));
        VcpuFfi.Mmio(rig.Run, 2 * Page, 4, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal(HvrtExitInfo.MmioInSlot, rig.Info.MmioClass);
        Assert.Equal(0UL, VcpuFfi.Reader(rig.V)->Ctr);
    }

    [Fact]
    public void InterruptedAndOther()
    {
        using var rig = new Rig();
        foreach (int err in new[] { EINTR, EAGAIN })
        {
            Assert.Equal(VcpuFfi.Unhandled, rig.Handle(-1, err));
            Assert.Equal(HvrtExitInfo.KindInterrupted, rig.Info.Kind);
            Assert.Equal(0L, rig.Info.Result);
        }
        *(uint*)(rig.Run + 8) = VcpuFfi.ExitHlt;
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        HvrtExitInfo i = rig.Info;
        Assert.Equal((HvrtExitInfo.KindOther, VcpuFfi.ExitHlt, 0UL, uint.MaxValue, 0u), (i.Kind, i.ExitReason, i.Gpa, i.Slot, i.MmioClass));
    }

    [Fact]
    public void HandleExit_MmioAndOther_AllocateNothing()
    {
        using Rig rig = MmioRig();
        Assert.Equal(0, ConvFfi.SetPolicy(rig.Vm.Handle, 0));
        Assert.Equal(0, ConvFfi.ConvertPages(rig.Vm.Handle, 5, 1, true)); // attributes in use
        byte* run = rig.Run;
        ulong[] gpas = { 0x10000000, 2 * Page, 33 * Page, 5 * Page };
        long sum = 0;
        for (int round = 0; round < 2; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int k = 0; k < 1000; k++)
            {
                VcpuFfi.Mmio(run, gpas[k & 3], 4, (k & 4) != 0);
                sum += VcpuFfi.Handle(rig.V, 0, 0);
                *(uint*)(run + 8) = VcpuFfi.ExitHlt;
                sum += VcpuFfi.Handle(rig.V, 0, 0);
                sum += VcpuFfi.Handle(rig.V, -1, EINTR);
                sum += VcpuFfi.Enter(rig.V) + VcpuFfi.Exit(rig.V);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (round == 1)
            {
                Assert.Equal(0, allocated);
            }
        }
        Assert.Equal(0, sum);
    }

    // ---- the reader and writers on other threads ------------------------------------------

    [Fact]
    public void SlotChange_CompletesWhileTheVcpuIsInTheGuest_AndWaitsWhileItIsOnline()
    {
        using var rig = new Rig();
        Assert.Equal(0, rig.V1(0, 0, 0, 16 * Page, 0x100000000));
        VmHandle* vm = rig.Vm.Handle;
        // Online (just created, no quiescent state since): a writer must wait for it.
        Task<int> writer = Task.Run(() => Ffi.SetV1(vm, 1, 0, 64 * Page, Page, 0x300000000));
        Assert.False(writer.Wait(200));
        // Entering the guest lets the grace period end.
        Assert.Equal(0, VcpuFfi.Enter(rig.V));
        Assert.True(writer.Wait(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, writer.Result);
        // While "in the guest", any number of slot changes go through.
        Task<int> more = Task.Run(() => Ffi.SetV1(vm, 2, 0, 80 * Page, Page, 0x300000000) | Ffi.SetV1(vm, 2, 0, 80 * Page, 0, 0));
        Assert.True(more.Wait(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, more.Result);
        Assert.Equal(0, VcpuFfi.Exit(rig.V));
        VcpuFfi.Mmio(rig.Run, 64 * Page, 4, write: true);
        Assert.Equal(VcpuFfi.Unhandled, rig.Handle());
        Assert.Equal((HvrtExitInfo.MmioInSlot, 1u), (rig.Info.MmioClass, rig.Info.Slot));
    }

    [Fact]
    public void Conversion_WhileAWriterWaitsForThisVcpu_DoesNotDeadlock()
    {
        using var rig = new Rig();
        VmHandle* vm = rig.Vm.Handle;
        // The writer holds the VM lock while it waits for this (online) vCPU's reader; the
        // conversion needs that lock, so it must take the reader offline before waiting.
        Task<int> writer = Task.Run(() => Ffi.SetV1(vm, 1, 0, 64 * Page, Page, 0x300000000));
        Assert.False(writer.Wait(100));
        VcpuFfi.Hypercall(rig.Run, 12, 0x10 * Page, 1, 1UL << 4);
        Assert.Equal(VcpuFfi.Resume, rig.Handle());
        Assert.True(writer.Wait(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, writer.Result);
        Assert.Equal(AttrFfi.Private, rig.Attr(0x10));
        Assert.NotEqual(0UL, VcpuFfi.Reader(rig.V)->Ctr);
    }
}
