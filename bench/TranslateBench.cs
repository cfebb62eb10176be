using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Hvrt.Abi;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Bench;

/// <summary>Which gfns a translation suite walks.</summary>
public enum Pattern
{
    /// <summary>~90% hits on a uniformly chosen slot and page, ~10% misses.</summary>
    Random,

    /// <summary>Every page of consecutive slots in order.</summary>
    Sequential,
}

/// <summary>
/// gfn → slot translation: hvrt (its export, its core, the batch call and a registered reader's
/// calls) against what a VMM author would write instead over a sorted array of slot structs. Every method walks the same
/// precomputed gfns, <see cref="Lookups"/> per invoke, so results are ns per lookup. Slots are
/// 2 MiB with gaps (<see cref="SlotLayout"/>), created with hvrt_set_user_memory_regions.
/// </summary>
[MemoryDiagnoser]
[IterationTime(150)] // keeps the 84 cases of --job short near 3 min (100 ms gives ~85 ms iterations and warnings)
public unsafe class TranslateBench
{
    /// <summary>Lookups per invoke (OperationsPerInvoke).</summary>
    private const int Lookups = 1024;

    /// <summary>Gfns in the stream (128 KiB): long enough that the branch predictor cannot learn it.</summary>
    private const int GfnCount = 16 * 1024;

    private const int MissPercent = 10;

    /// <summary>Gfns per batch call (the "batch of 64").</summary>
    private const int Batch = 64;

    private VmHandle* _vm;
    private ReaderRecord* _reader;
    private HvrtTranslation* _out;
    private ulong* _gfns;
    private int _cursor;
    private GuestSlot[] _slots = Array.Empty<GuestSlot>();
    private int _lastUsed;

    /// <summary>1..32,764 slots; HVRT_BDN_SLOTS narrows them (BenchParams).</summary>
    [ParamsSource(nameof(SlotCounts))]
    public int Slots { get; set; }

    /// <summary>Random and Sequential; HVRT_BDN_PATTERNS narrows them.</summary>
    [ParamsSource(nameof(Patterns))]
    public Pattern Pattern { get; set; }

    public static IEnumerable<int> SlotCounts => BenchParams.Ints("HVRT_BDN_SLOTS", 1, 8, 64, 512, 4096, 32764);

    public static IEnumerable<Pattern> Patterns => BenchParams.Enums<Pattern>("HVRT_BDN_PATTERNS");

    [GlobalSetup]
    public void Setup()
    {
        _slots = SlotLayout.Build(Slots, seed: 1000 + Slots);
        _gfns = (ulong*)NativeMemory.AlignedAlloc(GfnCount * sizeof(ulong), 64);
        var gfns = new Span<ulong>(_gfns, GfnCount);
        if (Pattern == Pattern.Random)
        {
            SlotLayout.FillRandom(_slots, gfns, MissPercent, seed: 2000 + Slots);
        }
        else
        {
            SlotLayout.FillSequential(_slots, gfns);
        }
        _vm = BenchVm.CreateWith(_slots);
        _out = (HvrtTranslation*)NativeMemory.AlignedAlloc(Batch * 64, 64);
        delegate* unmanaged[Cdecl]<VmHandle*, ReaderRecord**, int> register = &ExportsReader.Register;
        ReaderRecord* reader;
        BenchVm.Check(register(_vm, &reader), "hvrt_reader_register");
        _reader = reader;
        VerifyAgree();
        _cursor = 0;
        _lastUsed = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> unregister = &ExportsReader.Unregister;
        BenchVm.Check(unregister(_reader), "hvrt_reader_unregister");
        _reader = null;
        NativeMemory.AlignedFree(_out);
        _out = null;
        BenchVm.Destroy(_vm);
        _vm = null;
        NativeMemory.AlignedFree(_gfns);
        _gfns = null;
    }

    /// <summary>(a) hvrt_translate through the export's unmanaged function pointer, as the tests call it.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong HvrtExport()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong, HvrtTranslation*, int> translate = &ExportsSlots.Translate;
        ulong* gfns = NextBatch();
        VmHandle* vm = _vm;
        HvrtTranslation t;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            if (translate(vm, 0, gfns[i], &t) == 0)
            {
                sum += t.Hva;
            }
        }
        return sum;
    }

    /// <summary>(b) The translator the export calls (Index/Translator): read section, snapshot load, last hit, search, fill, attributes.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong HvrtCore()
    {
        ulong* gfns = NextBatch();
        VmHandle* vm = _vm;
        HvrtTranslation t;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            if (Translator.Translate(&vm->Read, 0, gfns[i], &t) == 0)
            {
                sum += t.Hva;
            }
        }
        return sum;
    }

    /// <summary>(c) A plain binary search over the VMM's own sorted slot array (KVM's search_memslots shape).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public ulong BinarySearch()
    {
        ulong* gfns = NextBatch();
        GuestSlot[] slots = _slots;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            ulong gfn = gfns[i];
            int k = SlotLayout.Find(slots, gfn);
            if (k >= 0)
            {
                sum += slots[k].Hva + ((gfn - slots[k].BaseGfn) << 12);
            }
        }
        return sum;
    }

    /// <summary>(d) The binary search behind a last-hit cache (KVM's last_used_slot).</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong BinarySearchLastHit()
    {
        ulong* gfns = NextBatch();
        GuestSlot[] slots = _slots;
        int last = _lastUsed;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            ulong gfn = gfns[i];
            int k = last;
            if (gfn - slots[k].BaseGfn >= slots[k].NPages)
            {
                k = SlotLayout.Find(slots, gfn);
                if (k < 0)
                {
                    continue;
                }
                last = k;
            }
            sum += slots[k].Hva + ((gfn - slots[k].BaseGfn) << 12);
        }
        _lastUsed = last;
        return sum;
    }

    /// <summary>(e) hvrt_translate_batch, 64 gfns a call (16 calls per invoke), per gfn.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong HvrtBatch64()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong*, nuint, HvrtTranslation*, int> batch = &ExportsBatch.TranslateBatch;
        ulong* gfns = NextBatch();
        HvrtTranslation* out64 = _out;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i += Batch)
        {
            batch(_vm, 0, gfns + i, Batch, out64);
            for (int j = 0; j < Batch; j++)
            {
                sum += out64[j].Result == 0 ? out64[j].Hva : 0;
            }
        }
        return sum;
    }

    /// <summary>(f) hvrt_reader_translate with a registered, online reader.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong HvrtReader()
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong, HvrtTranslation*, int> translate = &ExportsReader.Translate;
        ulong* gfns = NextBatch();
        ReaderRecord* r = _reader;
        HvrtTranslation t;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            if (translate(r, 0, gfns[i], &t) == 0)
            {
                sum += t.Hva;
            }
        }
        return sum;
    }

    /// <summary>(g) hvrt_reader_translate_batch, 64 gfns a call, per gfn.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong HvrtReaderBatch64()
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong*, nuint, HvrtTranslation*, int> batch = &ExportsReader.TranslateBatch;
        ulong* gfns = NextBatch();
        HvrtTranslation* out64 = _out;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i += Batch)
        {
            batch(_reader, 0, gfns + i, Batch, out64);
            for (int j = 0; j < Batch; j++)
            {
                sum += out64[j].Result == 0 ? out64[j].Hva : 0;
            }
        }
        return sum;
    }

    /// <summary>The next <see cref="Lookups"/> gfns of the stream, wrapping around.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong* NextBatch()
    {
        // SAFETY: GfnCount is a multiple of Lookups, so the batch never runs past the buffer.
        ulong* p = _gfns + _cursor;
        _cursor = (_cursor + Lookups) & (GfnCount - 1);
        return p;
    }

    /// <summary>Every method must agree on every gfn of the stream, or the timings mean nothing.</summary>
    private void VerifyAgree()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong, HvrtTranslation*, int> translate = &ExportsSlots.Translate;
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong, HvrtTranslation*, int> readerTranslate = &ExportsReader.Translate;
        int hits = 0;
        for (int i = 0; i < GfnCount; i++)
        {
            ulong gfn = _gfns[i];
            int k = SlotLayout.Find(_slots, gfn);
            HvrtTranslation t, tr;
            int r = translate(_vm, 0, gfn, &t);
            int rr = readerTranslate(_reader, 0, gfn, &tr);
            bool agree = k < 0
                ? r == -2 && rr == -2
                : r == 0 && rr == 0 && t.Slot == _slots[k].Id && t.Hva == _slots[k].Hva + ((gfn - _slots[k].BaseGfn) << 12)
                    && tr.Slot == t.Slot && tr.Hva == t.Hva;
            if (!agree)
            {
                throw new InvalidOperationException($"lookups disagree at gfn {gfn:x}: baseline {k}, hvrt {r} slot {t.Slot}, reader {rr}");
            }
            hits += k >= 0 ? 1 : 0;
        }
        int minHits = Pattern == Pattern.Random ? GfnCount * (100 - 2 * MissPercent) / 100 : GfnCount;
        if (hits < minHits || (Pattern == Pattern.Random && hits == GfnCount))
        {
            throw new InvalidOperationException($"unexpected hit rate {hits}/{GfnCount}");
        }
    }
}
