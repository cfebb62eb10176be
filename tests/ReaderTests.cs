using System;
using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Memory;
using Hvrt.Slots;
using Hvrt.Sync;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>hvrt_reader_*: registration, states, argument checks and the last-hit cache.</summary>
public unsafe class ReaderTests
{
    /// <summary>Three slots in as0 (one READONLY, one LOG_DIRTY) and one in as1; holes between.</summary>
    private static TestVm ThreeSlots()
    {
        var vm = new TestVm();
        Assert.Equal(0, vm.V1(0, 0, 0, 16 << 12, 0x100000000));
        Assert.Equal(0, vm.V1(1, 2, 32 << 12, 8 << 12, 0x200000000));
        Assert.Equal(0, vm.V1(2, 1, 100 << 12, 4 << 12, 0x300000000));
        Assert.Equal(0, vm.V1(1u << 16 | 7, 0, 0, 4 << 12, 0x400000000));
        return vm;
    }

    [Fact]
    public void Layout_RecordIsOneCacheLine_AndResultIsAtOffset44()
    {
        Assert.Equal(64, sizeof(ReaderRecord));
        // The read side (VmLayout) and the readers' grace-period domain on a cache line each.
        Assert.Equal(128, sizeof(VmHandle));
        Assert.Equal(44, (int)Marshal.OffsetOf<HvrtTranslation>(nameof(HvrtTranslation.Result)));
        using var vm = new TestVm();
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        Assert.Equal(0, (long)((nint)r % 64));
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }

    [Fact]
    public void Register_StartsOnline_AndTranslatesAsTranslate()
    {
        using TestVm vm = ThreeSlots();
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        for (uint asId = 0; asId < 2; asId++)
        {
            for (ulong gfn = 0; gfn < 120; gfn++)
            {
                HvrtTranslation want = default, got = default;
                int rw = Ffi.Translate(vm.Handle, asId, gfn, &want);
                got.Slot = 0xdead;
                int rg = Ffi.ReaderTranslate(r, asId, gfn, &got);
                Assert.Equal(rw, rg);
                if (rw == 0)
                {
                    Assert.Equal(want, got);
                    Assert.Equal(0, got.Result);
                }
                else
                {
                    Assert.Equal(E.ENOENT, rg);
                    Assert.Equal(0xdeadu, got.Slot); // out untouched on a miss
                }
            }
        }
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }

    [Fact]
    public void Unregister_ThenEveryCall_IsEBadf_AndRegisterReusesTheRecord()
    {
        using TestVm vm = ThreeSlots();
        ReaderRecord* a = Ffi.ReaderRegister(vm.Handle);
        ReaderRecord* b = Ffi.ReaderRegister(vm.Handle);
        Assert.True(a != b);
        HvrtTranslation t;
        ulong gfn = 1;
        Assert.Equal(0, Ffi.ReaderTranslate(a, 0, 1, &t)); // fills a's cache
        Assert.Equal(0, Ffi.ReaderUnregister(a));
        Assert.Equal(E.EBADF, Ffi.ReaderUnregister(a));
        Assert.Equal(E.EBADF, Ffi.ReaderQuiescent(a));
        Assert.Equal(E.EBADF, Ffi.ReaderOnline(a));
        Assert.Equal(E.EBADF, Ffi.ReaderOffline(a));
        Assert.Equal(E.EBADF, Ffi.ReaderTranslate(a, 0, 1, &t));
        Assert.Equal(E.EBADF, Ffi.ReaderTranslateBatch(a, 0, &gfn, 1, &t));

        // The free record comes back, online and with an empty cache (debug mode, HVRT_DEBUG=1:
        // never, the record stays quarantined so the stale handle keeps failing).
        ReaderRecord* c = Ffi.ReaderRegister(vm.Handle);
        Assert.True(DebugMode.Enabled ? c != a : c == a);
        Assert.True(c->Ctr != 0);
        Assert.True(c->Cache0.Entry == null && c->Cache1.Entry == null);
        Assert.Equal(ulong.MaxValue, c->Cache0.Generation);
        Assert.Equal(0, Ffi.ReaderTranslate(c, 0, 1, &t));
        // A third registration while none is free is a new record.
        ReaderRecord* d = Ffi.ReaderRegister(vm.Handle);
        Assert.True(d != a && d != b);
        Assert.Equal(0, Ffi.ReaderUnregister(b));
        Assert.Equal(0, Ffi.ReaderUnregister(c));
        Assert.Equal(0, Ffi.ReaderUnregister(d));
    }

    [Fact]
    public void ManyReaders_RegisterAndUnregister_InAnyOrder()
    {
        using TestVm vm = ThreeSlots();
        var readers = new nint[100];
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < readers.Length; i++)
            {
                readers[i] = (nint)Ffi.ReaderRegister(vm.Handle);
            }
            // Slot changes with every reader online and quiescing between them.
            for (int i = 0; i < readers.Length; i++)
            {
                Assert.Equal(0, Ffi.ReaderQuiescent((ReaderRecord*)readers[i]));
            }
            for (int i = 0; i < readers.Length; i += 2)
            {
                Assert.Equal(0, Ffi.ReaderOffline((ReaderRecord*)readers[i]));
            }
            for (int i = 1; i < readers.Length; i += 2)
            {
                Assert.Equal(0, Ffi.ReaderUnregister((ReaderRecord*)readers[i]));
            }
            Assert.Equal(0, vm.V1(9, 0, 1 << 30, 1 << 12, 0x900000000)); // nobody online: no wait
            Assert.Equal(0, vm.V1(9, 0, 0, 0));
            for (int i = 0; i < readers.Length; i += 2)
            {
                Assert.Equal(0, Ffi.ReaderUnregister((ReaderRecord*)readers[i]));
            }
        }
        // Every record was reused: the list holds 100 records, not 300 (debug mode: none is).
        int count = 0;
        for (ReaderRecord* r = vm.Handle->Grace.Readers; r != null; r = r->Next)
        {
            count++;
        }
        Assert.Equal(DebugMode.Enabled ? 300 : 100, count);
    }

    [Fact]
    public void BadArguments_AreRefused_WithTheDocumentedCodes()
    {
        using TestVm vm = ThreeSlots();
        ReaderRecord* r;
        Assert.Equal(E.EFAULT, Ffi.ReaderRegister(null, &r));
        Assert.Equal(E.EFAULT, Ffi.ReaderRegister(vm.Handle, null));
        byte* junk = stackalloc byte[128];
        ReaderRecord* zeroed = (ReaderRecord*)(((nint)junk + 63) & ~(nint)63);
        new Span<byte>(zeroed, 64).Clear();
        Assert.Equal(E.EBADF, Ffi.ReaderRegister((VmHandle*)zeroed, &r));
        byte* poisoned = stackalloc byte[64];
        new Span<byte>(poisoned, 64).Fill(0xA5);

        HvrtTranslation t = default;
        ulong gfn = 0;
        foreach ((nint p, int want) in new[] { ((nint)0, E.EFAULT), ((nint)zeroed, E.EBADF), ((nint)poisoned, E.EBADF) })
        {
            var bad = (ReaderRecord*)p;
            Assert.Equal(want, Ffi.ReaderUnregister(bad));
            Assert.Equal(want, Ffi.ReaderQuiescent(bad));
            Assert.Equal(want, Ffi.ReaderOnline(bad));
            Assert.Equal(want, Ffi.ReaderOffline(bad));
            Assert.Equal(want, Ffi.ReaderTranslate(bad, 0, 0, &t));
            Assert.Equal(want, Ffi.ReaderTranslateBatch(bad, 0, &gfn, 1, &t));
        }

        r = Ffi.ReaderRegister(vm.Handle);
        t.Slot = 0xdead;
        Assert.Equal(E.EFAULT, Ffi.ReaderTranslate(r, 0, 0, null));
        Assert.Equal(E.EINVAL, Ffi.ReaderTranslate(r, 2, 0, &t));
        Assert.Equal(E.EINVAL, Ffi.ReaderTranslate(r, uint.MaxValue, 0, &t));
        Assert.Equal(E.EINVAL, Ffi.ReaderTranslateBatch(r, 2, &gfn, 1, &t));
        Assert.Equal(0xdeadu, t.Slot);
        Assert.Equal(0, Ffi.ReaderUnregister(r));

        using var one = new TestVm(new HvrtVmConfig { NrAddressSpaces = 1 });
        Assert.Equal(0, one.V1(0, 0, 0, 1 << 12));
        r = Ffi.ReaderRegister(one.Handle);
        Assert.Equal(E.EINVAL, Ffi.ReaderTranslate(r, 1, 0, &t));
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 0, &t));
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }

    [Fact]
    public void OfflineReader_GetsEPerm_UntilOnline()
    {
        using TestVm vm = ThreeSlots();
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        HvrtTranslation t = default;
        t.Slot = 0xdead;
        ulong gfn = 0;
        Assert.Equal(0, Ffi.ReaderOffline(r));
        Assert.Equal(0, Ffi.ReaderOffline(r)); // already offline: nothing changes
        Assert.Equal(0UL, r->Ctr);
        Assert.Equal(E.EPERM, Ffi.ReaderTranslate(r, 0, 0, &t));
        Assert.Equal(E.EPERM, Ffi.ReaderTranslateBatch(r, 0, &gfn, 1, &t));
        Assert.Equal(E.EPERM, Ffi.ReaderTranslateBatch(r, 0, null, 0, null));
        Assert.Equal(E.EPERM, Ffi.ReaderQuiescent(r));
        Assert.Equal(0UL, r->Ctr); // quiescent did not bring it online
        Assert.Equal(0xdeadu, t.Slot);
        Assert.Equal(0, Ffi.ReaderOnline(r));
        Assert.Equal(0, Ffi.ReaderOnline(r)); // already online: a quiescent state
        Assert.Equal(0, Ffi.ReaderQuiescent(r));
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 0, &t));
        Assert.Equal(0u, t.Slot);
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }

    [Fact]
    public void LastHitCache_NeverAnswersFromAnOlderSlotSet()
    {
        using var vm = new TestVm();
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        HvrtTranslation t;

        // This thread both reads and writes: its reader must be offline while it changes slots,
        // or the change would wait for it forever.
        int Change(uint slot, uint flags, ulong gpa, ulong size, ulong hva)
        {
            Assert.Equal(0, Ffi.ReaderOffline(r));
            int rc = vm.V1(slot, flags, gpa, size, hva);
            Assert.Equal(0, Ffi.ReaderOnline(r));
            return rc;
        }

        Assert.Equal(0, Change(3, 0, 0x10 << 12, 4 << 12, 0x500000000));
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 0x11, &t));
        Assert.Equal(0x500001000UL, t.Hva);
        Assert.True(r->Cache0.Entry != null);

        // Move: the cached entry's snapshot is gone; the answer must come from the new one.
        Assert.Equal(0, Change(3, 0, 0x20 << 12, 4 << 12, 0x500000000));
        Assert.Equal(E.ENOENT, Ffi.ReaderTranslate(r, 0, 0x11, &t));
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 0x21, &t));
        Assert.Equal(0x20UL, t.BaseGfn);
        Assert.Equal(vm.Generation(), t.Generation);

        // Delete and re-create with another hva at the same gfns.
        Assert.Equal(0, Change(3, 0, 0, 0, 0));
        Assert.Equal(E.ENOENT, Ffi.ReaderTranslate(r, 0, 0x21, &t));
        Assert.Equal(0, Change(3, 1, 0x20 << 12, 4 << 12, 0x600000000));
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 0x21, &t));
        Assert.Equal(0x600001000UL, t.Hva);
        Assert.Equal(HvrtTranslation.FlagLogDirty, t.Flags);

        // Address spaces have their own caches.
        Assert.Equal(0, Change(1u << 16 | 3, 0, 0x20 << 12, 4 << 12, 0x700000000));
        Assert.Equal(0, Ffi.ReaderTranslate(r, 1, 0x21, &t));
        Assert.Equal(0x700001000UL, t.Hva);
        Assert.Equal(0, Ffi.ReaderTranslate(r, 0, 0x21, &t));
        Assert.Equal(0x600001000UL, t.Hva);
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }

    [Fact]
    public void AllocatesNothing_TranslateBatchesAndStateChanges()
    {
        using var vm = new TestVm();
        for (uint i = 0; i < 64; i++)
        {
            Assert.Equal(0, vm.V1(i, 0, (ulong)i << 24, 1 << 20, 0x100000000UL + ((ulong)i << 24)));
        }
        ReaderRecord* r = Ffi.ReaderRegister(vm.Handle);
        const int N = 512;
        ulong* gfns = stackalloc ulong[N];
        var rng = new Random(7);
        for (int i = 0; i < N; i++)
        {
            gfns[i] = (ulong)rng.NextInt64(0, 64L << 12);
        }
        HvrtTranslation* outs = (HvrtTranslation*)NativeMemory.AlignedAlloc(N * 64, 64);
        try
        {
            HvrtTranslation t;
            // First calls: JIT and thread attach.
            Ffi.ReaderTranslate(r, 0, 0, &t);
            Ffi.ReaderTranslateBatch(r, 0, gfns, N, outs);
            Ffi.TranslateBatch(vm.Handle, 0, gfns, N, outs);
            Ffi.ReaderQuiescent(r);
            Ffi.ReaderOffline(r);
            Ffi.ReaderOnline(r);
            long before = GC.GetAllocatedBytesForCurrentThread();
            long hits = 0;
            for (int round = 0; round < 20; round++)
            {
                for (int i = 0; i < N; i++)
                {
                    hits += Ffi.ReaderTranslate(r, 0, gfns[i], &t) == 0 ? 1 : 0;
                }
                hits += Ffi.ReaderTranslateBatch(r, 0, gfns, N, outs);
                hits += Ffi.TranslateBatch(vm.Handle, 0, gfns, N, outs);
                hits += Ffi.ReaderQuiescent(r) + Ffi.ReaderOffline(r) + Ffi.ReaderOnline(r);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, allocated);
            Assert.True(hits > 0 && hits < 20L * 3 * N);
        }
        finally
        {
            NativeMemory.AlignedFree(outs);
        }
        Assert.Equal(0, Ffi.ReaderUnregister(r));
    }
}
