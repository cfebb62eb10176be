using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.InteropServices;
using Hvrt.Bits;

namespace Hvrt.Bench;

/// <summary>
/// `dotnet run -c Release --project bench -- --bits-interleaved [rounds]`: the cases of
/// <see cref="BitsBench"/> in one process, round-robin (each round times every case once, 20
/// passes over 32 MiB), so that drift on a shared host hits them alike; BenchmarkDotNet runs each
/// case in its own process, minutes apart, and its short runs disagree by 20-30% here. Prints the
/// median GB/s per case and its ratio to the OR-reduction of the same width.
/// </summary>
internal static unsafe class BitsInterleaved
{
    private const int Passes = 20;

    private static bool ResultsOn =>
        Environment.GetEnvironmentVariable("HVRT_BENCH_RESULTS") is { Length: > 0 } v && v != "0";

    private static string Inv(double v) => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>With HVRT_BENCH_RESULTS=1, RESULT rows for bench/collect.py (bench/README.md): each
    /// scan against the OR-reduction it is judged by (GB/s), SetRange in ms per 2^28 bits.</summary>
    private static void Result(string name, int width, double gbs, double orGbs, int orWidth)
    {
        if (!ResultsOn || name is "WordLoopFind" or "OrReduce")
        {
            return;
        }
        string w = width == 0 ? "scalar" : width.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (name == "SetRange")
        {
            Console.WriteLine(string.Join('\t', "RESULT", "bits", "SetRange 2^28 bits (1 TiB of pages)", $"width {w}", "BitKernels.SetRange", "hvrt",
                Inv(BitsBench.Bytes / gbs / 1e6), "ms"));
            return;
        }
        string work = "scan 32 MiB bitmap (" + name + ")";
        Console.WriteLine(string.Join('\t', "RESULT", "bits", work, $"width {w}", "BitKernels." + name, "hvrt", Inv(gbs), "GB/s"));
        Console.WriteLine(string.Join('\t', "RESULT", "bits", work, $"width {w}", $"OR-reduction ({orWidth}-bit)", "baseline", Inv(orGbs), "GB/s"));
    }

    public static int Run(int rounds)
    {
        var cases = new List<(string Name, int Width, Action Body)>();
        var benches = new Dictionary<int, BitsBench>();
        foreach (int width in new[] { 0, 128, 256, 512 })
        {
            if ((int)BitKernels.ForPath((BitPath)width).Path != width)
            {
                continue;
            }
            var b = new BitsBench { Width = width };
            b.Setup();
            benches[width] = b;
            cases.Add(("OrReduce", width, () => b.OrReduce()));
            cases.Add(("FindNextSet", width, () => b.FindNextSet()));
            cases.Add(("FindNextClear", width, () => b.FindNextClear()));
            cases.Add(("Count", width, () => b.Count()));
            cases.Add(("SetRange", width, b.SetRange));
        }
        cases.Add(("WordLoopFind", 0, () => benches[0].WordLoopFind()));
        var gbs = cases.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r <= rounds; r++)
        {
            for (int c = 0; c < cases.Count; c++)
            {
                var sw = Stopwatch.StartNew();
                for (int k = 0; k < Passes; k++)
                {
                    cases[c].Body();
                }
                if (r > 0) // round 0 warms up (tiering)
                {
                    gbs[c].Add((double)BitsBench.Bytes * Passes / sw.Elapsed.TotalSeconds / 1e9);
                }
            }
        }
        double Median(List<double> xs) => xs.OrderBy(x => x).ElementAt(xs.Count / 2);
        Console.WriteLine($"32 MiB bitmap, {rounds} rounds x {Passes} passes, median GB/s (min..max), ratio to OrReduce of the same width");
        for (int c = 0; c < cases.Count; c++)
        {
            int orIndex = cases.FindIndex(x => x.Name == "OrReduce" && x.Width == (cases[c].Width == 512 ? 512 : 256));
            double m = Median(gbs[c]);
            Result(cases[c].Name, cases[c].Width, m, Median(gbs[orIndex]), cases[c].Width == 512 ? 512 : 256);
            Console.WriteLine($"{cases[c].Name,-14} {(cases[c].Width == 0 ? "scalar" : cases[c].Width.ToString(System.Globalization.CultureInfo.InvariantCulture)),-6} {m,6:F1} GB/s ({gbs[c].Min(),5:F1}..{gbs[c].Max(),5:F1})  {m / Median(gbs[orIndex]),5:F2}x  {BitsBench.Bytes / m / 1e6,6:F2} ms/32MiB");
        }
        if (ResultsOn)
        {
            Console.WriteLine(string.Join('\t', "RESULT", "bits", "WordLoopFind (info)", "32 MiB bitmap", "word-at-a-time find-next-bit", "baseline",
                Inv(Median(gbs[cases.FindIndex(x => x.Name == "WordLoopFind")])), "GB/s"));
        }
        foreach (BitsBench b in benches.Values)
        {
            b.Cleanup();
        }
        return 0;
    }
}
