using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Hvrt.Bench;

/// <summary>
/// Parameter lists that `./build.sh bench` narrows through the environment (BenchmarkDotNet's
/// command line cannot filter by parameter value): the full TranslateBench grid is 84 cases, so
/// the orchestrated run picks the slot counts the targets name and leaves the rest to the C
/// harness, which sweeps 1..32,764 slots against its baselines in one process. Child processes
/// inherit the environment, so out-of-process runs see the same lists.
/// </summary>
internal static class BenchParams
{
    /// <summary>Comma-separated integers from <paramref name="variable"/>, or <paramref name="defaults"/>.</summary>
    public static IEnumerable<int> Ints(string variable, params int[] defaults)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrWhiteSpace(text)
            ? defaults
            : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Comma-separated enum names from <paramref name="variable"/>, or every value of <typeparamref name="T"/>.</summary>
    public static IEnumerable<T> Enums<T>(string variable) where T : struct, Enum
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrWhiteSpace(text)
            ? Enum.GetValues<T>()
            : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => Enum.Parse<T>(s, ignoreCase: true)).ToArray();
    }
}
