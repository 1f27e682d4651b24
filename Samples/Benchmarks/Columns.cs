using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Benchmarks;

/// <summary>A numeric column computed from a case's mean time; "-" for cases it does not apply to.</summary>
public abstract class MetricColumn : IColumn
{
    public string Id => GetType().Name;
    public abstract string ColumnName { get; }
    public abstract string Legend { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public abstract int PriorityInCategory { get; }
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => Format(Value(summary, benchmarkCase));
    public override string ToString() => ColumnName;

    /// <summary>The value for one case, or null when the column does not apply to it.</summary>
    protected abstract double? Value(Summary summary, BenchmarkCase benchmarkCase);

    protected virtual string Format(double? value) => value?.ToString("F1", CultureInfo.InvariantCulture) ?? "-";

    public static double? MeanNanoseconds(Summary summary, BenchmarkCase benchmarkCase) =>
        summary[benchmarkCase]?.ResultStatistics?.Mean is > 0 and var mean ? mean : null;

    /// <summary>The case's Threads parameter, or 1 for a benchmark that has none (it runs on the calling thread).</summary>
    public static int Threads(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Any(p => p.Name == "Threads") ? (int)benchmarkCase.Parameters["Threads"] : 1;

    /// <summary>
    /// <paramref name="value"/> of a case as a share of the best value of the <paramref name="probe"/> cases with the same
    /// thread count, measured in the same run.
    /// </summary>
    protected static double? ShareOfProbe(Summary summary, BenchmarkCase benchmarkCase, System.Type probe, System.Func<BenchmarkCase, double?> value)
    {
        int threads = Threads(benchmarkCase);
        double? best = summary.BenchmarksCases.Where(c => c.Descriptor.Type == probe && Threads(c) == threads).Select(value).Max();
        return value(benchmarkCase) is { } own && best is > 0 ? 100 * own / best.Value : null;
    }

    protected static string Percent(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) + "%" : "-";
}

/// <summary>Floating-point throughput of a benchmark case, from its flop count and its mean time.</summary>
public sealed class GflopsColumn : MetricColumn
{
    public override string ColumnName => "GFLOP/s";
    public override string Legend => "Billions of floating-point operations per second: 4·N²·d·H for attention (halved when causal), 2 per lane per FMA for the probes";
    public override int PriorityInCategory => 0;

    protected override double? Value(Summary summary, BenchmarkCase benchmarkCase) => Gflops(summary, benchmarkCase);

    public static double? Gflops(Summary summary, BenchmarkCase benchmarkCase) =>
        MeanNanoseconds(summary, benchmarkCase) is { } nanoseconds && Flops(benchmarkCase) is { } flops ? flops / nanoseconds : null;

    private static double? Flops(BenchmarkCase benchmarkCase)
    {
        if (typeof(PrefillBase).IsAssignableFrom(benchmarkCase.Descriptor.Type))
        {
            return PrefillBase.Flops((int)benchmarkCase.Parameters["N"], (int)benchmarkCase.Parameters["HeadDim"], (bool)benchmarkCase.Parameters["Causal"]);
        }

        if (benchmarkCase.Descriptor.Type == typeof(EncoderPeers))
        {
            return EncoderPeers.Flops((EncoderShape)benchmarkCase.Parameters["Shape"]);
        }

        if (benchmarkCase.Descriptor.Type == typeof(FmaPeak))
        {
            string probe = benchmarkCase.Descriptor.WorkloadMethod.Name;
            int lanes = probe.Contains("512") ? 16 : probe.Contains("256") ? 8 : 4;
            return FmaPeak.Flops(lanes, Threads(benchmarkCase));
        }

        return null; // memory-bound benchmarks are measured in GB/s
    }
}

/// <summary>
/// Throughput as a fraction of the FMA peak measured in the same run with as many threads (the best of the Vector512,
/// Vector256 and Vector128 probes: in a run under DOTNET_EnableAVX2=0 only the Vector128 probe is accelerated).
/// </summary>
public sealed class PeakFractionColumn : MetricColumn
{
    public override string ColumnName => "% of peak";
    public override string Legend => "GFLOP/s as a share of the FmaPeak probe's best result with the same thread count, measured in the same run";
    public override int PriorityInCategory => 1;

    protected override double? Value(Summary summary, BenchmarkCase benchmarkCase) => Share(summary, benchmarkCase);

    public static double? Share(Summary summary, BenchmarkCase benchmarkCase) =>
        ShareOfProbe(summary, benchmarkCase, typeof(FmaPeak), c => GflopsColumn.Gflops(summary, c));

    protected override string Format(double? value) => Percent(value);
}

/// <summary>Bytes moved per second: the cache's keys and values read by a decoding step, the buffers of the bandwidth probes.</summary>
public sealed class BandwidthColumn : MetricColumn
{
    public override string ColumnName => "GB/s";
    public override string Legend => "Gigabytes per second: read, the K and V bytes of the cache for a decoding step and the read probe's buffer; written, the write probe's buffer";
    public override int PriorityInCategory => 2;

    protected override double? Value(Summary summary, BenchmarkCase benchmarkCase) => GigabytesPerSecond(summary, benchmarkCase);

    public static double? GigabytesPerSecond(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? bytes = benchmarkCase.Descriptor.Type == typeof(Decode)
            ? Decode.Bytes((int)benchmarkCase.Parameters["CacheLength"], (AttentionGen.KvCachePrecision)benchmarkCase.Parameters["Precision"])
            : benchmarkCase.Descriptor.Type == typeof(DecodePeers) || benchmarkCase.Descriptor.Type == typeof(DecodeDraft)
            ? DecodePeers.Bytes((int)benchmarkCase.Parameters["CacheLength"], (AttentionGen.KvCachePrecision)benchmarkCase.Parameters["Precision"])
            : benchmarkCase.Descriptor.Type == typeof(ReadBandwidth) ? ReadBandwidth.Bytes
            : benchmarkCase.Descriptor.Type == typeof(WriteBandwidth) ? WriteBandwidth.Bytes : null;
        return MeanNanoseconds(summary, benchmarkCase) is { } nanoseconds && bytes is { } b ? b / nanoseconds : null;
    }
}

/// <summary>Bandwidth as a share of the read-bandwidth probe's, with as many threads, measured in the same run.</summary>
public sealed class BandwidthFractionColumn : MetricColumn
{
    public override string ColumnName => "% of probe";
    public override string Legend => "GB/s as a share of the ReadBandwidth probe's with the same thread count, measured in the same run";
    public override int PriorityInCategory => 3;

    protected override double? Value(Summary summary, BenchmarkCase benchmarkCase) => Share(summary, benchmarkCase);

    public static double? Share(Summary summary, BenchmarkCase benchmarkCase) =>
        ShareOfProbe(summary, benchmarkCase, typeof(ReadBandwidth), c => BandwidthColumn.GigabytesPerSecond(summary, c));

    protected override string Format(double? value) => Percent(value);
}

/// <summary>
/// Our throughput over the fastest ONNX Runtime operator's on the same case (same class and parameters), measured in
/// the same run: above 1, ours is faster.
/// </summary>
public sealed class PeerRatioColumn : MetricColumn
{
    public override string ColumnName => "ours / fastest peer";
    public override string Legend => "Attention.Gen's throughput over the fastest ONNX Runtime operator's on the same case, in the same run (above 1: ours is faster)";
    public override int PriorityInCategory => 4;

    protected override double? Value(Summary summary, BenchmarkCase benchmarkCase) => Ratio(summary, benchmarkCase);

    public static double? Ratio(Summary summary, BenchmarkCase benchmarkCase)
    {
        bool peers = typeof(PeerPrefillBase).IsAssignableFrom(benchmarkCase.Descriptor.Type)
            || benchmarkCase.Descriptor.Type == typeof(EncoderPeers) || benchmarkCase.Descriptor.Type == typeof(DecodePeers);
        if (!peers || benchmarkCase.Descriptor.WorkloadMethod.Name != nameof(PeerPrefillBase.Generated))
        {
            return null;
        }

        double? fastestPeer = summary.BenchmarksCases
            .Where(c => c.Descriptor.Type == benchmarkCase.Descriptor.Type && c != benchmarkCase
                && c.Parameters.DisplayInfo == benchmarkCase.Parameters.DisplayInfo)
            .Select(c => MeanNanoseconds(summary, c)).Min();
        return MeanNanoseconds(summary, benchmarkCase) is { } ours && fastestPeer is { } peer ? peer / ours : null;
    }

    protected override string Format(double? value) => value?.ToString("F2", CultureInfo.InvariantCulture) ?? "-";
}
