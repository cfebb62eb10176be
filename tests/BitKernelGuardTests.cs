using System;
using Hvrt.Bits;
using Hvrt.Tests.Support;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// Bitmaps placed flush against a PROT_NONE page (ending at the page's end, or starting at its
/// start): a kernel that loads or stores a word outside the range's words crashes the run.
/// </summary>
public unsafe class BitKernelGuardTests
{
    public static TheoryData<int> Paths() => new() { 0, 128, 256, 512 };

    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryKernel_FlushAgainstGuardPages_NeverTouchesThem(int width)
    {
        var path = (BitPath)width;
        BitOps ops = BitKernels.ForPath(path);
        using var pages = new GuardedPages();
        // Every length 0..4*64+1 and past a 512-bit vector, every start within the first words.
        for (ulong bits = 0; bits <= 4 * 64 + 1 + 512; bits++)
        {
            ulong words = (bits + 63) / 64;
            ulong* atEnd = (ulong*)pages.End - words;
            ulong* atStart = (ulong*)pages.Start;
            foreach (ulong* map in new[] { (nint)atEnd, (nint)atStart })
            {
                for (ulong s = 0; s <= bits && s < 130; s++)
                {
                    ExerciseAll(ops, (ulong*)map, s, bits);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Scans_OfAFullGuardedPage_MatchModel(int width)
    {
        var path = (BitPath)width;
        BitOps ops = BitKernels.ForPath(path);
        using var pages = new GuardedPages();
        ulong* map = (ulong*)pages.Start;
        const ulong Bits = GuardedPages.PageSize * 8;
        new Span<ulong>(map, GuardedPages.PageSize / 8).Clear();
        Assert.Equal(Bits, ops.FindNextSet(map, 0, Bits));
        Assert.Equal(0UL, ops.Count(map, 0, Bits));
        ops.SetRange(map, 0, Bits);
        Assert.Equal(Bits, ops.FindNextClear(map, 3, Bits));
        Assert.Equal(Bits, ops.Count(map, 0, Bits));
        Assert.True(ops.AllEqual(map, 0, Bits, true));
        ops.ClearRange(map, Bits - 1, 1);
        Assert.Equal(Bits - 1, ops.FindNextClear(map, 0, Bits));
    }

    private static void ExerciseAll(BitOps ops, ulong* map, ulong start, ulong end)
    {
        ops.SetRange(map, start, end - start);
        BitKernelTests.Check(ops.FindNextClear(map, start, end), end, "FindNextClear after SetRange", ops.Path, start, end);
        BitKernelTests.Check(ops.Count(map, start, end), end - start, "Count after SetRange", ops.Path, start, end);
        Assert.True(ops.AllEqual(map, start, end, true));
        ops.ClearRange(map, start, end - start);
        BitKernelTests.Check(ops.FindNextSet(map, start, end), end, "FindNextSet after ClearRange", ops.Path, start, end);
        Assert.True(ops.AllEqual(map, start, end, false));
    }
}
