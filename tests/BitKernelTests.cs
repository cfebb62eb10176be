using System;
using System.Collections.Generic;
using Hvrt.Bits;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// Every kernel on every path (forced with BitKernels.ForPath; the JIT on this machine accelerates
/// all of them) against the bit-by-bit model, for ranges starting around word and vector
/// boundaries with every length 0..1100.
/// </summary>
public unsafe class BitKernelTests
{
    internal const int Words = 20; // 1280 bits: a few 512-bit vectors plus partial words
    internal const int Bits = Words * 64;
    internal const int MaxLength = 1100;

    /// <summary>Starts at, and one either side of, word (64) and vector (128/256/512) boundaries.</summary>
    internal static readonly ulong[] Starts = { 0, 1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 255, 256, 257, 383, 384, 511, 512, 513 };

    public static IEnumerable<object[]> Paths() => new[]
    {
        new object[] { 0 }, new object[] { 128 }, new object[] { 256 }, new object[] { 512 },
    };

    public static IEnumerable<object[]> PathsAndMaps()
    {
        foreach (object[] p in Paths())
        {
            foreach (string m in new[] { "random", "sparse", "zero", "ones", "holes" })
            {
                yield return new object[] { p[0], m };
            }
        }
    }

    internal static ulong[] MakeMap(string kind, int seed = 42)
    {
        var rng = new Random(seed);
        var w = new ulong[Words];
        for (int i = 0; i < Words; i++)
        {
            w[i] = kind switch
            {
                "random" => (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 40),
                "ones" => ulong.MaxValue,
                _ => 0,
            };
        }
        if (kind is "sparse" or "holes")
        {
            // ~1 bit in 300: long empty stretches, so the scans reach the vector middle.
            for (int k = 0; k < Bits / 300; k++)
            {
                int b = rng.Next(Bits);
                w[b / 64] |= 1UL << (b % 64);
            }
            if (kind == "holes")
            {
                for (int i = 0; i < Words; i++)
                {
                    w[i] = ~w[i];
                }
            }
        }
        return w;
    }

    [Theory]
    [MemberData(nameof(PathsAndMaps))]
    public void Scans_AndCount_MatchBitByBitModel(int width, string kind)
    {
        var path = (BitPath)width;
        ulong[] words = MakeMap(kind);
        var model = new BitReference(words);
        BitOps ops = BitKernels.ForPath(path);
        path = ops.Path; // lower than asked only under DOTNET_Enable*=0 knobs
        fixed (ulong* map = words)
        {
            foreach (ulong s in Starts)
            {
                for (ulong len = 0; len <= MaxLength && s + len <= Bits; len++)
                {
                    ulong e = s + len;
                    Check(ops.FindNextSet(map, s, e), model.FindNextSet(s, e), "FindNextSet", path, s, e);
                    Check(ops.FindNextClear(map, s, e), model.FindNextClear(s, e), "FindNextClear", path, s, e);
                    Check(ops.Count(map, s, e), model.Count(s, e), "Count", path, s, e);
                    Check(ops.AllEqual(map, s, e, true) ? 1UL : 0, model.AllEqual(s, e, true) ? 1UL : 0, "AllEqual(true)", path, s, e);
                    Check(ops.AllEqual(map, s, e, false) ? 1UL : 0, model.AllEqual(s, e, false) ? 1UL : 0, "AllEqual(false)", path, s, e);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void FindNext_SingleBitOrHole_FoundInEveryLane(int width)
    {
        BitOps ops = BitKernels.ForPath((BitPath)width);
        BitPath path = ops.Path; // lower than asked only under DOTNET_Enable*=0 knobs
        var words = new ulong[Words];
        fixed (ulong* map = words)
        {
            for (ulong h = 0; h < Bits; h++)
            {
                Array.Clear(words);
                map[h / 64] = 1UL << (int)(h % 64);
                Check(ops.FindNextSet(map, 0, Bits), h, "FindNextSet", path, 0, Bits);
                Check(ops.FindNextSet(map, h + 1, Bits), Bits, "FindNextSet after", path, h + 1, Bits);
                Check(ops.Count(map, 0, Bits), 1, "Count", path, 0, Bits);
                Array.Fill(words, ulong.MaxValue);
                map[h / 64] = ~(1UL << (int)(h % 64));
                Check(ops.FindNextClear(map, 0, Bits), h, "FindNextClear", path, 0, Bits);
                Check(ops.FindNextClear(map, h + 1, Bits), Bits, "FindNextClear after", path, h + 1, Bits);
                Check(ops.Count(map, 0, Bits), Bits - 1, "Count", path, 0, Bits);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SetAndClearRange_ChangeExactlyTheRange(int width)
    {
        BitOps ops = BitKernels.ForPath((BitPath)width);
        BitPath path = ops.Path; // lower than asked only under DOTNET_Enable*=0 knobs
        ulong[] before = MakeMap("random", 7);
        var actual = new ulong[Words];
        var expected = new ulong[Words];
        fixed (ulong* map = actual)
        {
            foreach (ulong s in Starts)
            {
                for (ulong len = 0; len <= MaxLength && s + len <= Bits; len++)
                {
                    foreach (bool value in new[] { true, false })
                    {
                        before.CopyTo(actual, 0);
                        before.CopyTo(expected, 0);
                        if (value)
                        {
                            ops.SetRange(map, s, len);
                        }
                        else
                        {
                            ops.ClearRange(map, s, len);
                        }
                        BitReference.Fill(expected, s, len, value);
                        if (!actual.AsSpan().SequenceEqual(expected))
                        {
                            Assert.Fail($"{(value ? "SetRange" : "ClearRange")} on {path}, start {s}, count {len}: map differs from the model");
                        }
                    }
                }
            }
        }
    }

    /// <summary>Long ranges, so that the unrolled blocks (4 vectors per step, Harley-Seal's 64 words) run many times.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void LongRanges_MatchBitByBitModel(int width)
    {
        BitOps ops = BitKernels.ForPath((BitPath)width);
        BitPath path = ops.Path; // lower than asked only under DOTNET_Enable*=0 knobs
        var rng = new Random(11);
        const int LongWords = 4096 + 37;
        const ulong LongBits = LongWords * 64;
        var words = new ulong[LongWords];
        foreach (string kind in new[] { "random", "ones", "sparse" })
        {
            for (int i = 0; i < LongWords; i++)
            {
                words[i] = kind switch
                {
                    "random" => (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 40),
                    "ones" => ulong.MaxValue,
                    _ => rng.Next(200) == 0 ? 1UL << rng.Next(64) : 0,
                };
            }
            var model = new BitReference(words);
            fixed (ulong* map = words)
            {
                foreach (ulong s in Starts)
                {
                    foreach (ulong back in new ulong[] { 0, 1, 63, 64, 65, 511, 512, 513, 4095, 4096, 4097 })
                    {
                        ulong e = LongBits - back;
                        Check(ops.Count(map, s, e), model.Count(s, e), "Count " + kind, path, s, e);
                        Check(ops.FindNextSet(map, s, e), model.FindNextSet(s, e), "FindNextSet " + kind, path, s, e);
                        Check(ops.FindNextClear(map, s, e), model.FindNextClear(s, e), "FindNextClear " + kind, path, s, e);
                    }
                }
            }
        }
    }

    internal static void Check(ulong actual, ulong expected, string what, BitPath path, ulong start, ulong end)
    {
        if (actual != expected)
        {
            Assert.Fail($"{what} on {path} over [{start}, {end}): got {actual}, expected {expected}");
        }
    }
}
