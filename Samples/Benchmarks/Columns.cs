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
        return nanoseconds is > 0 && Flops(benchmarkCase) is { } flops ? flops / nanoseconds : null;
    }

    public static int Threads(BenchmarkCase benchmarkCase) => (int)benchmarkCase.Parameters["Threads"];

    private static double? Flops(BenchmarkCase benchmarkCase)
    {
        if (typeof(PrefillBase).IsAssignableFrom(benchmarkCase.Descriptor.Type))
        {
            return PrefillBase.Flops((int)benchmarkCase.Parameters["N"], (int)benchmarkCase.Parameters["HeadDim"], (bool)benchmarkCase.Parameters["Causal"]);
        }

        if (benchmarkCase.Descriptor.Type == typeof(FmaPeak))
        {
            int lanes = benchmarkCase.Descriptor.WorkloadMethod.Name.Contains("512") ? 16 : 8;
            return FmaPeak.Flops(lanes, Threads(benchmarkCase));
        }

        return null; // memory-bound benchmarks are measured in GB/s
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

/// <summary>Bytes read per second: the cache's keys and values for a decoding step, the buffer for the bandwidth probe.</summary>
public sealed class BandwidthColumn : IColumn
{
    public string Id => nameof(BandwidthColumn);
    public string ColumnName => "GB/s";
    public string Legend => "Gigabytes read per second: the K and V bytes of the cache for a decoding step, the whole buffer for the probe";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 2;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        GigabytesPerSecond(summary, benchmarkCase)?.ToString("F1", CultureInfo.InvariantCulture) ?? "-";

    public static double? GigabytesPerSecond(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        double? bytes = benchmarkCase.Descriptor.Type == typeof(Decode)
            ? Decode.Bytes((int)benchmarkCase.Parameters["CacheLength"], (AttentionGen.KvCachePrecision)benchmarkCase.Parameters["Precision"])
            : benchmarkCase.Descriptor.Type == typeof(ReadBandwidth) ? ReadBandwidth.Bytes : null;
        return nanoseconds is > 0 && bytes is { } b ? b / nanoseconds : null;
    }

    public override string ToString() => ColumnName;
}

/// <summary>Bandwidth as a share of the read-bandwidth probe's, with as many threads, measured in the same run.</summary>
public sealed class BandwidthFractionColumn : IColumn
{
    public string Id => nameof(BandwidthFractionColumn);
    public string ColumnName => "% of probe";
    public string Legend => "GB/s as a share of the ReadBandwidth probe's with the same thread count, measured in the same run";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 3;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? rate = BandwidthColumn.GigabytesPerSecond(summary, benchmarkCase);
        int threads = GflopsColumn.Threads(benchmarkCase);
        double? probe = summary.BenchmarksCases
            .Where(c => c.Descriptor.Type == typeof(ReadBandwidth) && GflopsColumn.Threads(c) == threads)
            .Select(c => BandwidthColumn.GigabytesPerSecond(summary, c))
            .Max();
        return rate is { } value && probe is > 0 ? (100 * value / probe.Value).ToString("F0", CultureInfo.InvariantCulture) + "%" : "-";
    }

    public override string ToString() => ColumnName;
}
