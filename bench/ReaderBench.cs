using System;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
using Hvrt.Sync;

namespace Hvrt.Bench;

/// <summary>
/// Registered readers against hvrt_translate, all through the exports' function pointers: the
/// same stream of gfns (10% misses) as <see cref="TranslateBench"/>, looked up one by one and as
/// batches of <see cref="Lookups"/>. Results are ns per gfn.
/// </summary>
[MemoryDiagnoser]
public unsafe class ReaderBench
{
    private const int Lookups = 1024;
    private const int GfnCount = 16 * 1024;

    private VmHandle* _vm;
    private ReaderRecord* _reader;
    private ulong* _gfns;
    private HvrtTranslation* _out;
    private int _cursor;

    [Params(64, 4096)]
    public int Slots { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        GuestSlot[] slots = SlotLayout.Build(Slots, seed: 1000 + Slots);
        _gfns = (ulong*)NativeMemory.AlignedAlloc(GfnCount * sizeof(ulong), 64);
        _out = (HvrtTranslation*)NativeMemory.AlignedAlloc(Lookups * 64, 64);
        SlotLayout.FillRandom(slots, new Span<ulong>(_gfns, GfnCount), 10, seed: 2000 + Slots);
        delegate* unmanaged[Cdecl]<byte*, VmHandle**, int> create = &ExportsVm.VmCreate;
        delegate* unmanaged[Cdecl]<VmHandle*, KvmUserspaceMemoryRegion*, int> set = &ExportsSlots.SetUserMemoryRegion;
        delegate* unmanaged[Cdecl]<VmHandle*, ReaderRecord**, int> register = &ExportsReader.Register;
        VmHandle* vm;
        Check(create(null, &vm), "hvrt_vm_create");
        _vm = vm;
        foreach (GuestSlot s in slots)
        {
            var r = new KvmUserspaceMemoryRegion { Slot = s.Id, Flags = s.Flags, GuestPhysAddr = s.BaseGfn << 12, MemorySize = s.NPages << 12, UserspaceAddr = s.Hva };
            Check(set(_vm, &r), "hvrt_set_user_memory_region");
        }
        ReaderRecord* reader;
        Check(register(_vm, &reader), "hvrt_reader_register");
        _reader = reader;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> unregister = &ExportsReader.Unregister;
        delegate* unmanaged[Cdecl]<VmHandle*, void> destroy = &ExportsVm.VmDestroy;
        Check(unregister(_reader), "hvrt_reader_unregister");
        destroy(_vm);
        NativeMemory.AlignedFree(_gfns);
        NativeMemory.AlignedFree(_out);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public ulong Translate()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong, HvrtTranslation*, int> f = &ExportsSlots.Translate;
        ulong* gfns = NextBatch();
        HvrtTranslation t;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            sum += f(_vm, 0, gfns[i], &t) == 0 ? t.Hva : 0;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong ReaderTranslate()
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong, HvrtTranslation*, int> f = &ExportsReader.Translate;
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> quiescent = &ExportsReader.Quiescent;
        ulong* gfns = NextBatch();
        HvrtTranslation t;
        ulong sum = 0;
        for (int i = 0; i < Lookups; i++)
        {
            sum += f(_reader, 0, gfns[i], &t) == 0 ? t.Hva : 0;
        }
        quiescent(_reader);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int TranslateBatch()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong*, nuint, HvrtTranslation*, int> f = &ExportsBatch.TranslateBatch;
        return f(_vm, 0, NextBatch(), Lookups, _out);
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int ReaderTranslateBatch()
    {
        delegate* unmanaged[Cdecl]<ReaderRecord*, uint, ulong*, nuint, HvrtTranslation*, int> f = &ExportsReader.TranslateBatch;
        delegate* unmanaged[Cdecl]<ReaderRecord*, int> quiescent = &ExportsReader.Quiescent;
        int hits = f(_reader, 0, NextBatch(), Lookups, _out);
        quiescent(_reader);
        return hits;
    }

    private ulong* NextBatch()
    {
        // SAFETY: GfnCount is a multiple of Lookups, so the batch never runs past the buffer.
        ulong* p = _gfns + _cursor;
        _cursor = (_cursor + Lookups) & (GfnCount - 1);
        return p;
    }

    private static void Check(int r, string what)
    {
        if (r != 0)
        {
            throw new InvalidOperationException($"{what}: {r}");
        }
    }
}
