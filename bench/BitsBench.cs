using System;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Hvrt.Bits;

namespace Hvrt.Bench;

/// <summary>
/// The bit kernels on a 32 MiB bitmap (2^28 bits: one bit per 4 KiB page of 1 TiB of guest
/// memory), per path (Width: 0 = scalar, 128, 256, 512, forced with BitKernels.ForPath). The
/// scans read the whole map (nothing to find); SetRange writes all of it. Baseline: the plain
/// OR-reduction of the same buffer (the read bandwidth a scan can reach), with Vector512 for
/// Width 512 and Vector256 otherwise, in the same process so that the Ratio column is the
/// target's ratio; and the word-at-a-time find-next-bit loop a C programmer writes first.
/// </summary>
[MemoryDiagnoser]
public unsafe class BitsBench
{
    internal const ulong Bits = 1UL << 28;
    internal const nuint Bytes = (nuint)(Bits / 8);

    private ulong* _zeros;
    private ulong* _ones;
    private ulong* _scratch;
    private BitOps _ops;

    [Params(0, 128, 256, 512)]
    public int Width { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ops = BitKernels.ForPath((BitPath)Width);
        if ((int)_ops.Path != Width)
        {
            throw new InvalidOperationException($"path {Width} is not accelerated here (got {_ops.Path})");
        }
        _zeros = BitsBuffers.Alloc(0);
        _ones = BitsBuffers.Alloc(0xFF);
        _scratch = BitsBuffers.Alloc(0);
        if (_ops.FindNextSet(_zeros, 0, Bits) != Bits || _ops.FindNextClear(_ones, 0, Bits) != Bits || _ops.Count(_ones, 0, Bits) != Bits)
        {
            throw new InvalidOperationException("kernels disagree with the buffers' contents");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_zeros);
        NativeMemory.AlignedFree(_ones);
        NativeMemory.AlignedFree(_scratch);
    }

    /// <summary>A full scan: no bit set in 2^28.</summary>
    [Benchmark]
    public ulong FindNextSet() => _ops.FindNextSet(_zeros, 0, Bits);

    /// <summary>The same scan through the Negate body (all bits set).</summary>
    [Benchmark]
    public ulong FindNextClear() => _ops.FindNextClear(_ones, 0, Bits);

    [Benchmark]
    public ulong Count() => _ops.Count(_ones, 0, Bits);

    /// <summary>Marks 1 TiB of guest pages; starts at bit 1 so both partial words are exercised.</summary>
    [Benchmark]
    public void SetRange() => _ops.SetRange(_scratch, 1, Bits - 1);

    /// <summary>OR of every word, 4 vectors per step: what reading 32 MiB costs, nothing else.</summary>
    [Benchmark(Baseline = true)]
    public ulong OrReduce() => Width == 512 ? OrReduce512(_zeros) : OrReduce256(_zeros);

    /// <summary>find_next_bit as in C: test each word, tzcnt the first non-zero one (independent of Width).</summary>
    [Benchmark]
    public ulong WordLoopFind()
    {
        ulong* p = _zeros;
        for (ulong i = 0; i < Bits / 64; i++)
        {
            if (p[i] != 0)
            {
                return i * 64 + (ulong)BitOperations.TrailingZeroCount(p[i]);
            }
        }
        return Bits;
    }

    private static ulong OrReduce256(ulong* p)
    {
        Vector256<ulong> a = default, b = default, c = default, d = default;
        for (nuint i = 0; i < Bytes / 8; i += 16)
        {
            a |= Vector256.Load(p + i);
            b |= Vector256.Load(p + i + 4);
            c |= Vector256.Load(p + i + 8);
            d |= Vector256.Load(p + i + 12);
        }
        return Vector256.Sum(a | b | c | d);
    }

    private static ulong OrReduce512(ulong* p)
    {
        Vector512<ulong> a = default, b = default, c = default, d = default;
        for (nuint i = 0; i < Bytes / 8; i += 32)
        {
            a |= Vector512.Load(p + i);
            b |= Vector512.Load(p + i + 8);
            c |= Vector512.Load(p + i + 16);
            d |= Vector512.Load(p + i + 24);
        }
        return Vector512.Sum(a | b | c | d);
    }
}

internal static unsafe class BitsBuffers
{
    /// <summary>A 32 MiB, 64-byte aligned bitmap filled with fill, touched so no page fault is timed.</summary>
    public static ulong* Alloc(byte fill)
    {
        var p = (ulong*)NativeMemory.AlignedAlloc(BitsBench.Bytes, 64);
        NativeMemory.Fill(p, BitsBench.Bytes, fill);
        return p;
    }
}
