using System;
using System.Runtime.Intrinsics;

namespace Hvrt.Bits;

/// <summary>The widest vector a bit kernel may use; the numeric value is the width in bits.</summary>
internal enum BitPath
{
    Scalar = 0,
    V128 = 128,
    V256 = 256,
    V512 = 512,
}

/// <summary>
/// Chooses the bit kernels' path once, at start-up: the widest one this build and CPU accelerate,
/// lowered by HVRT_SIMD=scalar|128|256|512. A request above what is supported falls back to the
/// best supported path below it (e.g. HVRT_SIMD=512 in the x86-64-v3 .so runs the 256 path);
/// an unknown value is ignored. Under NativeAOT IsHardwareAccelerated reflects
/// &lt;IlcInstructionSet&gt; (Runtime.csproj), not the CPU: see README "Instruction set".
/// </summary>
internal static class BitPaths
{
    public const string EnvVar = "HVRT_SIMD";

    /// <summary>The widest path this build + CPU accelerate.</summary>
    public static BitPath Best { get; } = DetectBest();

    /// <summary>The path the public kernels use: Best, lowered by HVRT_SIMD.</summary>
    public static BitPath Selected { get; } = Clamp(Parse(Environment.GetEnvironmentVariable(EnvVar)) ?? BitPath.V512);

    /// <summary>p, or the best supported path below it.</summary>
    public static BitPath Clamp(BitPath p) => p <= Best ? p : Best;

    public static BitPath? Parse(string? value) => value switch
    {
        "scalar" => BitPath.Scalar,
        "128" => BitPath.V128,
        "256" => BitPath.V256,
        "512" => BitPath.V512,
        _ => null,
    };

    private static BitPath DetectBest()
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return BitPath.V512;
        }
        if (Vector256.IsHardwareAccelerated)
        {
            return BitPath.V256;
        }
        return Vector128.IsHardwareAccelerated ? BitPath.V128 : BitPath.Scalar;
    }
}
