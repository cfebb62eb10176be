using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Hvrt.Bench;

public static class Program
{
    /// <summary>
    /// Runs the suites picked by BenchmarkDotNet's command line (--filter, --job short, ...).
    /// Adds the median (noisy hosts skew the mean) and prints zero allocations as "0 B", not "-".
    /// </summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--bits-interleaved")
        {
            return BitsInterleaved.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 15);
        }
        IConfig config = DefaultConfig.Instance
            .AddColumn(StatisticColumn.Median)
            .WithSummaryStyle(SummaryStyle.Default.WithZeroMetricValuesInContent());
        Summary[] summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config).ToArray();
        bool failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
        return failed ? 1 : 0;
    }
}
