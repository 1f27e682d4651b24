using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Benchmarks;

/// <summary>Floating-point throughput of a benchmark case, from its flop count and its mean time.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public string Legend => "Billions of floating-point operations per second: 4·N²·d·H for attention (halved when causal), 2 per lane per FMA for the probes";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        Gflops(summary, benchmarkCase)?.ToString("F1", CultureInfo.InvariantCulture) ?? "-";

    public static double? Gflops(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return nanoseconds is > 0 ? Flops(benchmarkCase) / nanoseconds : null;
    }

    public static int Threads(BenchmarkCase benchmarkCase) => (int)benchmarkCase.Parameters["Threads"];

    private static double Flops(BenchmarkCase benchmarkCase)
    {
        if (typeof(PrefillBase).IsAssignableFrom(benchmarkCase.Descriptor.Type))
        {
            return PrefillBase.Flops((int)benchmarkCase.Parameters["N"], (int)benchmarkCase.Parameters["HeadDim"], (bool)benchmarkCase.Parameters["Causal"]);
        }

        int lanes = benchmarkCase.Descriptor.WorkloadMethod.Name.Contains("512") ? 16 : 8;
        return FmaPeak.Flops(lanes, Threads(benchmarkCase));
    }

    public override string ToString() => ColumnName;
}

/// <summary>
/// Throughput as a fraction of the FMA peak measured in the same run with as many threads (the better of the Vector512
/// and Vector256 probes).
/// </summary>
public sealed class PeakFractionColumn : IColumn
{
    public string Id => nameof(PeakFractionColumn);
    public string ColumnName => "% of peak";
    public string Legend => "GFLOP/s as a share of the FmaPeak probe's best result with the same thread count, measured in the same run";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? gflops = GflopsColumn.Gflops(summary, benchmarkCase);
        int threads = GflopsColumn.Threads(benchmarkCase);
        double? peak = summary.BenchmarksCases
            .Where(c => c.Descriptor.Type == typeof(FmaPeak) && GflopsColumn.Threads(c) == threads)
            .Select(c => GflopsColumn.Gflops(summary, c))
            .Max();
        return gflops is { } value && peak is > 0 ? (100 * value / peak.Value).ToString("F0", CultureInfo.InvariantCulture) + "%" : "-";
    }

    public override string ToString() => ColumnName;
}
