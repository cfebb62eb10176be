using System;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// hvrt_translate_batch and hvrt_reader_translate_batch: per-entry results, the hit count, and the
/// argument checks in the documented order. Every case runs on both entry points.
/// </summary>
public unsafe class BatchTests
{
    /// <summary>One batch call through either export.</summary>
    internal delegate int BatchFn(TestVm vm, uint asId, ulong* gfns, nuint n, HvrtTranslation* output);

    private static int ViaVm(TestVm vm, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
        => Ffi.TranslateBatch(vm.Handle, asId, gfns, n, output);

    private static int ViaReader(TestVm vm, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        try
        {
            return Ffi.ReaderTranslateBatch(r, asId, gfns, n, output);
        }
        finally
        {
            Assert.Equal(0, Ffi.ReaderUnregister(r));
        }
    }

    public static TheoryData<string> EntryPoints => new() { "vm", "reader" };

    private static BatchFn Pick(string which) => which == "vm" ? ViaVm : ViaReader;

    private static TestVm Slots()
    {
        var vm = new TestVm();
        int fd = Ffi.Memfd(64 << 12);
        Assert.Equal(0, vm.V1(0, 0, 0, 16 << 12, 0x100000000));
        Assert.Equal(0, vm.V1(1, 2, 32 << 12, 8 << 12, 0x200000000));
        Assert.Equal(0, vm.Ext(2, 4, 100 << 12, 4 << 12, 0x300000000, offset: 8 << 12, fd: fd));
        Ffi.close(fd);
        return vm;
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void EveryEntry_MatchesTranslate_AndMissesAreMarked(string which)
    {
        using TestVm vm = Slots();
        // Sequential gfns over slots and holes, then a scattered tail that revisits them.
        const int N = 160;
        ulong* gfns = stackalloc ulong[N];
        for (int i = 0; i < 120; i++)
        {
            gfns[i] = (ulong)i;
        }
        for (int i = 120; i < N; i++)
        {
            gfns[i] = (ulong)((i * 37) % 110);
        }
        HvrtTranslation* outs = stackalloc HvrtTranslation[N];
        new Span<byte>(outs, N * 64).Fill(0xee);
        int hits = Pick(which)(vm, 0, gfns, N, outs);
        int expected = 0;
        for (int i = 0; i < N; i++)
        {
            HvrtTranslation want;
            int r = vm.Translate(gfns[i], out want);
            if (r == 0)
            {
                expected++;
                Assert.Equal(want, outs[i]);
                Assert.Equal(0, outs[i].Result);
            }
            else
            {
                Assert.Equal(E.ENOENT, r);
                HvrtTranslation miss = default;
                miss.Result = E.ENOENT;
                miss.Generation = vm.Generation();
                Assert.Equal(miss, outs[i]);
            }
        }
        Assert.Equal(expected, hits);
        Assert.True(hits > 0 && hits < N);
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void AllMisses_ReturnZero_AndAllHits_ReturnN(string which)
    {
        using TestVm vm = Slots();
        ulong* gfns = stackalloc ulong[4] { 16, 17, 99, ulong.MaxValue };
        HvrtTranslation* outs = stackalloc HvrtTranslation[4];
        Assert.Equal(0, Pick(which)(vm, 0, gfns, 4, outs));
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(E.ENOENT, outs[i].Result);
        }
        ulong* inSlots = stackalloc ulong[5] { 0, 15, 32, 39, 103 };
        Assert.Equal(5, Pick(which)(vm, 0, inSlots, 5, outs));
        Assert.Equal(1u, outs[2].Slot);
        Assert.Equal(2u, outs[4].Slot);
        Assert.Equal(8UL + 3, outs[4].PrivatePgoff);
        // as1 has no slots.
        Assert.Equal(0, Pick(which)(vm, 1, inSlots, 5, outs));
        Assert.Equal(1UL, outs[0].Generation);
    }

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void BadArguments_HaveTheDocumentedCodes_AndLeaveOutAlone(string which)
    {
        using TestVm vm = Slots();
        BatchFn f = Pick(which);
        ulong gfn = 0;
        HvrtTranslation t = default;
        t.Slot = 0xdead;
        Assert.Equal(0, f(vm, 0, null, 0, null)); // n == 0: the arrays are not looked at
        Assert.Equal(0, f(vm, 0, &gfn, 0, &t));
        Assert.Equal(E.EFAULT, f(vm, 0, null, 1, &t));
        Assert.Equal(E.EFAULT, f(vm, 0, &gfn, 1, null));
        Assert.Equal(E.EINVAL, f(vm, 2, &gfn, 1, &t));
        Assert.Equal(E.EINVAL, f(vm, 2, null, 0, null)); // as_id is checked before n
        Assert.Equal(E.EINVAL, f(vm, 0, &gfn, (nuint)int.MaxValue + 1, &t));
        Assert.Equal(E.EINVAL, f(vm, 0, &gfn, nuint.MaxValue / 64 + 1, &t)); // n * 64 overflows
        Assert.Equal(E.EINVAL, f(vm, 0, &gfn, nuint.MaxValue, &t));
        Assert.Equal(E.EINVAL, f(vm, 0, null, nuint.MaxValue, null)); // -EINVAL before -EFAULT
        Assert.Equal(0xdeadu, t.Slot);
        Assert.Equal(1, f(vm, 0, &gfn, 1, &t));
        Assert.Equal(0u, t.Slot);
    }

    [Fact]
    public void VmBatch_HandleChecks()
    {
        ulong gfn = 0;
        HvrtTranslation t;
        Assert.Equal(E.EFAULT, Ffi.TranslateBatch(null, 0, &gfn, 1, &t));
        byte* junk = stackalloc byte[64];
        new Span<byte>(junk, 64).Clear();
        Assert.Equal(E.EBADF, Ffi.TranslateBatch((VmHandle*)junk, 0, &gfn, 1, &t));
        new Span<byte>(junk, 64).Fill(0xA5);
        Assert.Equal(E.EBADF, Ffi.TranslateBatch((VmHandle*)junk, 0, &gfn, 1, &t));
    }

    [Fact]
    public void ReaderBatch_UsesAndUpdatesTheLastHitCache()
    {
        using TestVm vm = Slots();
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        ulong* gfns = stackalloc ulong[3] { 100, 101, 20 };
        HvrtTranslation* outs = stackalloc HvrtTranslation[3];
        Assert.Equal(2, Ffi.ReaderTranslateBatch(r, 0, gfns, 3, outs));
        // The last hit (slot 2) is remembered for the next call, single or batch.
        Assert.True(r->Cache0.Entry != null && r->Cache0.Entry->Slot == 2);
        Assert.Equal(vm.Generation(), r->Cache0.Generation);
        HvrtTranslation t;
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 102, &t));
        Assert.Equal(2u, t.Slot);
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }
}
