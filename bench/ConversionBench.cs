using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Hvrt.Abi;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Bench;

/// <summary>
/// Conversion bookkeeping: hvrt_convert of a 2 MiB or 1 GiB range to private, then back to shared
/// (one operation each), with the discard policy off (hvrt_set_discard_policy 0: no system call)
/// and one listener registered (called once per converted run). Flip: the range is wholly shared
/// or private (one run per call); Stripes: a quarter of the range is kept private in 64-page
/// stripes, so each call converts many runs (the flip sees one stripe every 256 pages).
/// Baseline: a scalar per-page loop over a ulong[] bitmap that flips each bit that differs and
/// calls the same callback once per run.
/// </summary>
[MemoryDiagnoser]
public unsafe class ConversionBench
{
    private const ulong Start = 1UL << 18;
    private VmHandle* _vm;
    private ulong[] _bitmap = Array.Empty<ulong>();
    private ulong _pages;
    private static ulong s_calls;

    [Params("2MiB", "1GiB")]
    public string Range { get; set; } = "2MiB";

    [GlobalSetup]
    public void Setup()
    {
        _pages = Range == "2MiB" ? 512UL : 1UL << 18;
        var cfg = new HvrtVmConfig { Size = 64, VmType = 1 };
        _vm = AttrFfi.Create(&cfg);
        delegate* unmanaged[Cdecl]<VmHandle*, uint, int> policy = &ExportsConversion.SetDiscardPolicy;
        BenchVm.Check(policy(_vm, 0), "hvrt_set_discard_policy");
        delegate* unmanaged[Cdecl]<VmHandle*, nint, nint, int> add = &ExportsConversion.AddConversionListener;
        delegate* unmanaged[Cdecl]<nint, ulong, ulong, int, void> cb = &OnConvert;
        BenchVm.Check(add(_vm, (nint)cb, 0), "hvrt_add_conversion_listener");
        _bitmap = new ulong[(Start + _pages) / 64 + 1];
        s_calls = 0;
        Flip();
        if (s_calls != 2)
        {
            throw new InvalidOperationException($"listener called {s_calls} times for a flip, expected 2");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BenchVm.Destroy(_vm);
        _vm = null;
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnConvert(nint ctx, ulong gpa, ulong size, int toPrivate) => s_calls++;

    private static int Convert(VmHandle* vm, ulong gfn, ulong n, int toPrivate)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, int, int> convert = &ExportsConversion.Convert;
        return convert(vm, gfn << 12, n << 12, toPrivate);
    }

    /// <summary>The whole range to private, then to shared: per hvrt_convert call (one run, one callback each).</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int Flip() => Convert(_vm, Start, _pages, 1) | Convert(_vm, Start, _pages, 0);

    /// <summary>
    /// Every 256 pages, pages 0..63 private (one call each, not timed apart), then the whole range
    /// to private (the 3/4 between the stripes: _pages/256 runs) and back to shared (one run):
    /// per hvrt_convert call of the two whole-range ones. The stripe calls are included (2 MiB:
    /// 2 of them, 1 GiB: 1024), so this is the mixed workload's cost, not the whole-range calls alone.
    /// </summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int Stripes()
    {
        int r = 0;
        for (ulong g = Start; g < Start + _pages; g += 256)
        {
            r |= Convert(_vm, g, 64, 1);
        }
        return r | Convert(_vm, Start, _pages, 1) | Convert(_vm, Start, _pages, 0);
    }

    /// <summary>Baseline of Flip: a per-page scalar loop over a bitmap, one callback per run.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = 2)]
    public ulong NaiveFlip() => NaiveConvert(Start, _pages, true) + NaiveConvert(Start, _pages, false);

    /// <summary>Baseline of Stripes, the same calls on the bitmap.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public ulong NaiveStripes()
    {
        ulong runs = 0;
        for (ulong g = Start; g < Start + _pages; g += 256)
        {
            runs += NaiveConvert(g, 64, true);
        }
        return runs + NaiveConvert(Start, _pages, true) + NaiveConvert(Start, _pages, false);
    }

    /// <summary>Flips each page whose bit differs; calls the callback per maximal run of flipped pages. Returns the runs.</summary>
    private ulong NaiveConvert(ulong start, ulong n, bool toPrivate)
    {
        delegate* unmanaged[Cdecl]<nint, ulong, ulong, int, void> cb = &OnConvert;
        ulong[] map = _bitmap;
        ulong runs = 0, runStart = 0;
        bool inRun = false;
        int to = toPrivate ? 1 : 0;
        for (ulong g = start; g < start + n; g++)
        {
            ulong bit = 1UL << (int)(g & 63);
            bool set = (map[g >> 6] & bit) != 0;
            if (set != toPrivate)
            {
                map[g >> 6] ^= bit;
                if (!inRun)
                {
                    runStart = g;
                    inRun = true;
                }
            }
            else if (inRun)
            {
                cb(0, runStart << 12, (g - runStart) << 12, to);
                runs++;
                inRun = false;
            }
        }
        if (inRun)
        {
            cb(0, runStart << 12, (start + n - runStart) << 12, to);
            runs++;
        }
        return runs;
    }
}
