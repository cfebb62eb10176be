using System;
using BenchmarkDotNet.Attributes;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Bench;

/// <summary>
/// Setting and clearing PRIVATE over a range through hvrt_set_memory_attributes (the export, by
/// unmanaged function pointer as a C caller): 2 MiB (aligned), 1 GiB (aligned), and 1 TiB minus a
/// page starting at gfn 1 (unaligned: both partial words, no whole 2 MiB/1 GiB frame at either
/// end). One operation is one call; each invoke sets then clears. Baseline: the same on a naive
/// per-page byte array with a scalar loop (what a VMM writes without a bitmap).
/// </summary>
[MemoryDiagnoser]
public unsafe class AttributesBench
{
    private VmHandle* _vm;
    private byte[] _pages = Array.Empty<byte>();
    private ulong _start;
    private ulong _npages;

    [Params("2MiB", "1GiB", "1TiB-unaligned")]
    public string Range { get; set; } = "2MiB";

    [GlobalSetup]
    public void Setup()
    {
        (_start, _npages) = Range switch
        {
            "2MiB" => (512UL, 512UL),
            "1GiB" => (1UL << 18, 1UL << 18),
            _ => (1UL, (1UL << 28) - 1),
        };
        var cfg = new HvrtVmConfig { Size = 64, VmType = 1 };
        _vm = AttrFfi.Create(&cfg);
        _pages = new byte[_start + _npages];
        BenchVm.Check(AttrFfi.Set(_vm, _start, _npages, true), "hvrt_set_memory_attributes");
        BenchVm.Check(AttrFfi.Set(_vm, _start, _npages, false), "hvrt_set_memory_attributes");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BenchVm.Destroy(_vm);
        _vm = null;
        _pages = Array.Empty<byte>();
    }

    /// <summary>hvrt_set_memory_attributes PRIVATE, then 0, over the range: per call.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int SetClear() => AttrFfi.Set(_vm, _start, _npages, true) | AttrFfi.Set(_vm, _start, _npages, false);

    /// <summary>Baseline: a byte per page, set then cleared with a scalar loop: per pass.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = 2)]
    public byte NaiveSetClear()
    {
        byte[] p = _pages;
        ulong end = _start + _npages;
        for (ulong g = _start; g < end; g++)
        {
            p[g] = 1;
        }
        for (ulong g = _start; g < end; g++)
        {
            p[g] = 0;
        }
        return p[_start];
    }
}

/// <summary>
/// Scanning a mixed 1 GiB range (runs of 1..1024 pages, alternately private and shared, fixed
/// seed): walking its runs with hvrt_attributes_run and counting its private pages with
/// hvrt_attributes_count. Baseline: the same walk over a naive per-page byte array, one page at a
/// time (NaiveRuns; NaiveCount for the count).
/// </summary>
[MemoryDiagnoser]
public unsafe class AttributesScanBench
{
    private const ulong Start = 1UL << 18;
    private const ulong Pages = 1UL << 18;
    private VmHandle* _vm;
    private byte[] _pages = Array.Empty<byte>();
    private ulong _runs;
    private ulong _private;

    [GlobalSetup]
    public void Setup()
    {
        var cfg = new HvrtVmConfig { Size = 64, VmType = 1 };
        _vm = AttrFfi.Create(&cfg);
        _pages = new byte[Start + Pages];
        var rng = new Random(7);
        bool priv = false;
        ulong g = Start, runs = 0, privPages = 0;
        while (g < Start + Pages)
        {
            ulong n = Math.Min((ulong)rng.Next(1, 1025), Start + Pages - g);
            if (priv)
            {
                BenchVm.Check(AttrFfi.Set(_vm, g, n, true), "hvrt_set_memory_attributes");
                _pages.AsSpan((int)g, (int)n).Fill(1);
                privPages += n;
            }
            runs++;
            priv = !priv;
            g += n;
        }
        _runs = runs;
        _private = privPages;
        if (Runs() != _runs || NaiveRuns() != _runs || Count() != _private || NaiveCount() != _private)
        {
            throw new InvalidOperationException("run walks or counts disagree with the pattern");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BenchVm.Destroy(_vm);
        _vm = null;
    }

    /// <summary>for (g = start; g &lt; end; g = run_end) hvrt_attributes_run(...): the runs' number.</summary>
    [Benchmark]
    public ulong Runs()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, ulong*, ulong*, int> run = &ExportsAttributeRuns.Run;
        ulong n = 0, runEnd, attrs;
        for (ulong g = Start; g < Start + Pages; g = runEnd)
        {
            BenchVm.Check(run(_vm, g, Start + Pages, &runEnd, &attrs), "hvrt_attributes_run");
            n++;
        }
        return n;
    }

    [Benchmark]
    public ulong Count()
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, ulong*, int> count = &ExportsAttributeRuns.Count;
        ulong n;
        BenchVm.Check(count(_vm, Start, Start + Pages, &n), "hvrt_attributes_count");
        return n;
    }

    /// <summary>Baseline: one page at a time over a byte per page, a run ends where the byte changes.</summary>
    [Benchmark(Baseline = true)]
    public ulong NaiveRuns()
    {
        byte[] p = _pages;
        ulong n = 1;
        for (ulong g = Start + 1; g < Start + Pages; g++)
        {
            if (p[g] != p[g - 1])
            {
                n++;
            }
        }
        return n;
    }

    [Benchmark]
    public ulong NaiveCount()
    {
        byte[] p = _pages;
        ulong n = 0;
        for (ulong g = Start; g < Start + Pages; g++)
        {
            n += p[g];
        }
        return n;
    }
}

/// <summary>The attribute exports by unmanaged function pointer, as C calls them.</summary>
internal static unsafe class AttrFfi
{
    public static VmHandle* Create(HvrtVmConfig* cfg)
    {
        delegate* unmanaged[Cdecl]<byte*, VmHandle**, int> create = &ExportsVm.VmCreate;
        VmHandle* vm;
        BenchVm.Check(create((byte*)cfg, &vm), "hvrt_vm_create");
        return vm;
    }

    public static int Set(VmHandle* vm, ulong gfn, ulong npages, bool priv)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, KvmMemoryAttributes*, int> set = &ExportsAttributes.SetMemoryAttributes;
        var a = new KvmMemoryAttributes { Address = gfn << 12, Size = npages << 12, Attributes = priv ? 8UL : 0 };
        return set(vm, &a);
    }
}
