using System;
using System.Linq;
using System.Reflection;
using System.Runtime.Intrinsics;
using Hvrt.Bits;
using Xunit;

namespace Hvrt.Tests;

public unsafe class BitPathTests
{
    [Fact]
    public void Best_IsWidestAcceleratedVector()
    {
        BitPath expected = Vector512.IsHardwareAccelerated ? BitPath.V512
            : Vector256.IsHardwareAccelerated ? BitPath.V256
            : Vector128.IsHardwareAccelerated ? BitPath.V128 : BitPath.Scalar;
        Assert.Equal(expected, BitPaths.Best);
    }

    [Fact]
    public void Selected_IsHvrtSimdClampedToBest()
    {
        BitPath requested = BitPaths.Parse(Environment.GetEnvironmentVariable(BitPaths.EnvVar)) ?? BitPath.V512;
        Assert.Equal(BitPaths.Clamp(requested), BitPaths.Selected);
    }

    [Theory]
    [InlineData("scalar", 0)]
    [InlineData("128", 128)]
    [InlineData("256", 256)]
    [InlineData("512", 512)]
    [InlineData("avx", -1)]
    [InlineData("", -1)]
    [InlineData(null, -1)]
    public void Parse_KnowsTheFourNames(string? value, int expected) => Assert.Equal(expected, (int?)BitPaths.Parse(value) ?? -1);

    [Fact]
    public void ForPath_AboveBest_FallsBackToBest()
    {
        foreach (BitPath p in Enum.GetValues<BitPath>())
        {
            Assert.Equal(p <= BitPaths.Best ? p : BitPaths.Best, BitKernels.ForPath(p).Path);
        }
    }

    /// <summary>The ISA policy of the .so is a deliberate choice (README "Instruction set").</summary>
    [Fact]
    public void RuntimeAssembly_RecordsIlcInstructionSetX86_64_v3()
    {
        string? isa = typeof(BitKernels).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "HvrtIlcInstructionSet")?.Value;
        Assert.Equal("x86-64-v3", isa);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    public void EveryKernel_AllocatesNothing(int width)
    {
        var path = (BitPath)width;
        BitOps ops = BitKernels.ForPath(path);
        const ulong Words = 4096, Bits = Words * 64;
        ulong* map = (ulong*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)Words * 8);
        try
        {
            ulong sink = 0;
            for (int round = 0; round < 2; round++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 100; i++)
                {
                    ops.SetRange(map, 3, Bits - 5);
                    sink += ops.FindNextClear(map, 1, Bits);
                    ops.ClearRange(map, 3, Bits - 5);
                    sink += ops.FindNextSet(map, 1, Bits) + ops.Count(map, 1, Bits);
                    sink += ops.AllEqual(map, 1, Bits, false) ? 1UL : 0;
                    sink += BitKernels.FindNextSet(map, 7, Bits) + BitKernels.Count(map, 0, Bits);
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (round == 1)
                {
                    Assert.Equal(0, allocated); // round 0 warms up (tiering, statics)
                }
            }
            Assert.NotEqual(0UL, sink);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(map);
        }
    }
}
