using System;
using System.Runtime.InteropServices;
using Hvrt.Bits;
using Hvrt.DirtyLog;
using Xunit;

namespace Hvrt.Tests;

/// <summary>The get-and-clear drain: the vector path and its scalar twin give the same copy and leave the source zero.</summary>
public unsafe class DirtyDrainTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DrainWords_EveryPathAndLength_CopiesOrsAndZeroes(bool withExtra)
    {
        var rng = new Random(5);
        foreach (ulong words in new ulong[] { 0, 1, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1000 })
        {
            ulong[] source = new ulong[words], extra = new ulong[words];
            for (ulong i = 0; i < words; i++)
            {
                // Mostly zero words, some sparse, some full: the vector path skips stores on zero vectors.
                int kind = rng.Next(4);
                source[i] = kind == 0 ? 0 : kind == 1 ? 1UL << rng.Next(64) : kind == 2 ? ulong.MaxValue : (ulong)rng.NextInt64();
                extra[i] = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : 0;
            }
            ulong[]? reference = null;
            foreach (BitPath path in new[] { BitPath.Scalar, BitPath.V128, BitPath.V256, BitPath.V512 })
            {
                ulong[] from = (ulong[])source.Clone();
                ulong[] output = new ulong[words + 1];
                output[words] = 0xDEAD; // one past the end stays untouched
                fixed (ulong* f = from, o = output, x = extra)
                {
                    DirtyBitmap.DrainWords(f, o, withExtra ? x : null, words, path);
                }
                Assert.All(from, w => Assert.Equal(0UL, w));
                Assert.Equal(0xDEADUL, output[words]);
                for (ulong i = 0; i < words; i++)
                {
                    Assert.Equal(source[i] | (withExtra ? extra[i] : 0), output[i]);
                }
                reference ??= output;
                Assert.Equal(reference, output);
            }
        }
    }
}
