using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using AttentionGen;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Benchmarks;

/// <summary>
/// Writes, beside the run's other reports (<c>results/*-targets.md</c>), how the run measures against the performance
/// targets of docs/PERFORMANCE.md: a table per target over the cases of the run it covers, each case's value and whether
/// it meets the target. The values come from the same means and the same run's probes as the summary's columns, so a
/// run's verdicts are read off it whole rather than picked out by hand. A target none of whose cases ran is left out. A
/// verdict resting on a case whose error (the half-width of its 99.9% confidence interval) exceeds
/// <see cref="DisturbedError"/> of its mean is marked as disturbed: on a host shared with other guests, such a case says
/// more about the host than about the code.
/// </summary>
public sealed class TargetsExporter : ExporterBase
{
    /// <summary>One thread, N ≥ 512: the share of the widest accelerated width's FMA peak, d ≥ 64.</summary>
    public const double PrefillPeakShare = 80;

    /// <summary>The same with d = 32, where the softmax's share of the work is twice d = 64's.</summary>
    public const double NarrowHeadPeakShare = 65;

    /// <summary>Every prefill shape on the Vector128 path (the run's fastest FMA probe is Vector128's).</summary>
    public const double Vector128PeakShare = 70;

    /// <summary>Two threads over one, prefill with N ≥ 512.</summary>
    public const double TwoThreadSpeedup = 1.9;

    /// <summary>The token-major layout's throughput over the head-major one's, same shape.</summary>
    public const double TokenMajorShare = 0.95;

    /// <summary>Over the fastest ONNX Runtime operator, every prefill and encoder shape.</summary>
    public const double PrefillPeerRatio = 1.3;

    /// <summary>Over ONNX Runtime's GroupQueryAttention, decoding.</summary>
    public const double DecodePeerRatio = 2;

    /// <summary>A Single cache's keys and values read, as a share of the read probe's bandwidth.</summary>
    public const double DecodeBandwidthShare = 85;

    /// <summary>A Half cache's step over a Single one's, same shape.</summary>
    public const double HalfSpeedup = 1.7;

    /// <summary>The error, as a share of the mean, above which a case counts as disturbed.</summary>
    public const double DisturbedError = 0.10;

    /// <summary>Below this many calls in the memory diagnoser's iteration, an allocation per call is marked (<see cref="Allocation"/>).</summary>
    public const int FewCalls = 16;

    protected override string FileExtension => "md";

    protected override string FileNameSuffix => "-targets";

    public override void ExportToLog(Summary summary, ILogger logger)
    {
        BenchmarkCase[] ours = summary.BenchmarksCases.Where(c => c.Descriptor.WorkloadMethod.Name == nameof(PeerPrefillBase.Generated) && MetricColumn.MeanNanoseconds(summary, c) is not null).ToArray();
        BenchmarkCase[] prefill = ours.Where(c => c.Descriptor.Type.IsSubclassOf(typeof(PeerPrefillBase))).ToArray();
        string? widest = WidestProbe(summary);
        bool vector128 = widest == nameof(FmaPeak.Vector128Peak);

        logger.WriteLine($"# Targets: {summary.Title}");
        logger.WriteLine();
        logger.WriteLine($"- CPU: {summary.HostEnvironmentInfo.CpuInfo.Value?.ProcessorName ?? "unknown"}{CpuIdentity()}");
        var variables = summary.BenchmarksCases.SelectMany(c => c.Job.Environment.EnvironmentVariables ?? []).Distinct().ToArray();
        string settings = string.Join(", ", variables.Select(v => $"{v.Key}={v.Value}"));
        logger.WriteLine($"- Environment of the benchmark processes: {(settings.Length > 0 ? settings : "as inherited")}");
        logger.WriteLine($"- Fastest FMA probe on one thread: {widest ?? "none in this run (no share of the peak below)"}");

        // ONNX Runtime picks its instruction set from the CPU, whatever the DOTNET_ switches say: against a JIT held to a
        // narrower one, its figures are not a peer's.
        bool restricted = variables.Any(v => v.Key.StartsWith("DOTNET_Enable", StringComparison.OrdinalIgnoreCase) && v.Value == "0");
        if (restricted)
        {
            logger.WriteLine("- The JIT is held to a narrower instruction set than the CPU's, and ONNX Runtime is not: the comparison with it is left out.");
        }

        var tables = new List<(string Title, string Column, List<Verdict> Rows)>
        {
            ("Prefill at the roofline: one thread, N ≥ 512", "% of peak",
                prefill.Where(c => MetricColumn.Threads(c) == 1 && Parameter<int>(c, "N") >= 512)
                    .Select(c => Verdict.AtLeast(Label(c), PeakFractionColumn.Share(summary, c),
                        vector128 ? Vector128PeakShare : Parameter<int>(c, "HeadDim") >= 64 ? PrefillPeakShare : NarrowHeadPeakShare, "F0", Error(summary, c)))
                    .OfType<Verdict>().ToList()),
            ("Two threads over one: prefill, N ≥ 512", "speed-up",
                Pairs(prefill.Where(c => Parameter<int>(c, "N") >= 512), "Threads", 1, 2)
                    .Select(p => Verdict.AtLeast(p.Label, Ratio(MetricColumn.MeanNanoseconds(summary, p.First), MetricColumn.MeanNanoseconds(summary, p.Second)), TwoThreadSpeedup, "F2", Error(summary, p.First, p.Second)))
                    .OfType<Verdict>().ToList()),
            ("The token-major layout (Bshd) against the head-major one (Bhsd)", "Bshd ÷ Bhsd throughput",
                LayoutPairs(prefill)
                    .Select(p => Verdict.AtLeast(p.Label, Ratio(MetricColumn.MeanNanoseconds(summary, p.HeadMajor), MetricColumn.MeanNanoseconds(summary, p.TokenMajor)), TokenMajorShare, "F2", Error(summary, p.TokenMajor, p.HeadMajor)))
                    .OfType<Verdict>().ToList()),
            ("Against the fastest ONNX Runtime operator: prefill, encoder shapes, decoding", "ours ÷ fastest peer",
                // The cases with peers are the ones PeerRatioColumn gives a ratio for.
                ours.Where(c => !restricted)
                    .Select(c => Verdict.AtLeast(Label(c), PeerRatioColumn.Ratio(summary, c), c.Descriptor.Type == typeof(DecodePeers) ? DecodePeerRatio : PrefillPeerRatio, "F2", Error(summary, c)))
                    .OfType<Verdict>().ToList()),
            ("Decoding from a Single cache: its keys and values read", "% of read probe",
                ours.Where(c => c.Descriptor.Type == typeof(DecodePeers) && Parameter<KvCachePrecision>(c, "Precision") == KvCachePrecision.Single)
                    .Select(c => Verdict.AtLeast(Label(c), BandwidthFractionColumn.Share(summary, c), DecodeBandwidthShare, "F0", Error(summary, c)))
                    .OfType<Verdict>().ToList()),
            ("Decoding from a Half cache over a Single one", "speed-up",
                Pairs(ours.Where(c => c.Descriptor.Type == typeof(DecodePeers)), "Precision", KvCachePrecision.Single, KvCachePrecision.Half)
                    .Select(p => Verdict.AtLeast(p.Label, Ratio(MetricColumn.MeanNanoseconds(summary, p.First), MetricColumn.MeanNanoseconds(summary, p.Second)), HalfSpeedup, "F2", Error(summary, p.First, p.Second)))
                    .OfType<Verdict>().ToList()),
            ("Nothing allocated per call", "bytes per call",
                ours.Select(c => Allocation(summary, c)).ToList()),
        };

        foreach ((string title, string column, List<Verdict> rows) in tables.Where(t => t.Rows.Count > 0))
        {
            logger.WriteLine();
            logger.WriteLine($"## {title}");
            logger.WriteLine();
            int noted = rows.Count(r => r.Note is not null);
            logger.WriteLine($"Met in {rows.Count(r => r.Met)} of {rows.Count} cases{(noted > 0 ? $"; {noted} with a caveat" : "")}.");
            logger.WriteLine();
            logger.WriteLine($"| case | {column} | target | |");
            logger.WriteLine("|---|---:|---:|---|");
            foreach (Verdict row in rows)
            {
                logger.WriteLine($"| {row.Case} | {row.Value} | {row.Target} | {(row.Met ? "met" : "**not met**")}{(row.Note is null ? "" : $" ({row.Note})")} |");
            }
        }
    }

    /// <summary>
    /// The bytes a case allocated per call, from the memory diagnoser's extra iteration, which counts every thread of the
    /// benchmark process. Over few calls (a long call's iteration may run only two or three) anything the process
    /// allocates once in that iteration, such as BenchmarkDotNet's own bookkeeping, shows as a share of each call; such
    /// a result is marked, since one allocation cannot be told from one per call there. Runtime.Tests' AllocationTests
    /// check warm calls directly.
    /// </summary>
    private static Verdict Allocation(Summary summary, BenchmarkCase c)
    {
        GcStats? stats = summary[c]?.GcStats;
        long? bytes = stats?.GetBytesAllocatedPerOperation(c);
        long calls = stats?.TotalOperations ?? 0;
        string? note = bytes > 0 && calls < FewCalls ? $"measured over {calls} calls only" : null;
        return new(Label(c), bytes?.ToString(CultureInfo.InvariantCulture) ?? "-", "0", bytes == 0, note);
    }

    /// <summary>
    /// On Linux, the CPU's family and model and its vector instruction sets, from /proc/cpuinfo: a guest's model name
    /// often leaves them out, and which sets it has decides which kernels ran.
    /// </summary>
    private static string CpuIdentity()
    {
        const string Path = "/proc/cpuinfo";
        if (!System.IO.File.Exists(Path))
        {
            return "";
        }

        string[] lines = System.IO.File.ReadLines(Path).TakeWhile(l => l.Length > 0).ToArray();
        string? Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name + "\t", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        string[] vectorSets = ["avx512f", "avx512_fp16", "avx512_bf16", "amx_tile", "avx2", "fma", "f16c", "avx", "asimd", "sve"];
        string[] flags = (Field("flags") ?? Field("Features") ?? "").Split(' '); // x64, Arm64
        string model = Field("cpu family") is { } family ? $"family {family}, model {Field("model")}; " : "";
        return $" ({model}{string.Join(", ", vectorSets.Where(flags.Contains))})";
    }

    /// <summary>The FMA probe with the best one-thread result in the run: the widest accelerated width.</summary>
    private static string? WidestProbe(Summary summary) =>
        summary.BenchmarksCases
            .Where(c => c.Descriptor.Type == typeof(FmaPeak) && MetricColumn.Threads(c) == 1 && GflopsColumn.Gflops(summary, c) is not null)
            .MaxBy(c => GflopsColumn.Gflops(summary, c))?.Descriptor.WorkloadMethod.Name;

    /// <summary>
    /// Cases of one class alike but for <paramref name="parameter"/>, paired as (<paramref name="first"/>,
    /// <paramref name="second"/>), labelled by what they share.
    /// </summary>
    private static IEnumerable<(string Label, BenchmarkCase First, BenchmarkCase Second)> Pairs<T>(IEnumerable<BenchmarkCase> cases, string parameter, T first, T second)
    {
        string Key(BenchmarkCase c) => c.Descriptor.Type.Name + " " + Describe(c, parameter);
        BenchmarkCase[] all = cases.ToArray();
        foreach (BenchmarkCase one in all.Where(c => Equals(c.Parameters[parameter], first)))
        {
            if (all.FirstOrDefault(c => Equals(c.Parameters[parameter], second) && Key(c) == Key(one)) is { } other)
            {
                yield return (Key(one), one, other);
            }
        }
    }

    /// <summary>Our token-major prefill cases, each with the head-major case of the same parameters.</summary>
    private static IEnumerable<(string Label, BenchmarkCase TokenMajor, BenchmarkCase HeadMajor)> LayoutPairs(BenchmarkCase[] prefill)
    {
        foreach (BenchmarkCase tokenMajor in prefill.Where(c => c.Descriptor.Type == typeof(PrefillPeersBshd)))
        {
            if (prefill.FirstOrDefault(c => c.Descriptor.Type == typeof(PrefillPeersBhsd) && c.Parameters.DisplayInfo == tokenMajor.Parameters.DisplayInfo) is { } headMajor)
            {
                yield return (Describe(tokenMajor, except: null), tokenMajor, headMajor);
            }
        }
    }

    /// <summary>The largest error of <paramref name="cases"/> as a share of its mean (0 for a case without statistics).</summary>
    private static double Error(Summary summary, params BenchmarkCase[] cases) =>
        cases.Max(c => summary[c]?.ResultStatistics is { Mean: > 0 } statistics ? statistics.ConfidenceInterval.Margin / statistics.Mean : 0);

    /// <summary>The throughput of the case timed <paramref name="second"/> over the one timed <paramref name="first"/>.</summary>
    private static double? Ratio(double? first, double? second) => first is { } a && second is > 0 ? a / second.Value : null;

    private static string Label(BenchmarkCase c) => c.Descriptor.Type.Name + " " + Describe(c, except: null);

    private static string Describe(BenchmarkCase c, string? except) =>
        string.Join(", ", c.Parameters.Items.Where(p => p.Name != except).Select(p => $"{p.Name} = {p.Value}"));

    private static T Parameter<T>(BenchmarkCase c, string name) => (T)c.Parameters[name];

    /// <summary>One case against one target.</summary>
    /// <param name="Note">A caveat on the verdict, or null.</param>
    private sealed record Verdict(string Case, string Value, string Target, bool Met, string? Note)
    {
        /// <summary>A value that must reach the target; <paramref name="error"/> (its cases' largest error as a share of the mean) marks it as disturbed.</summary>
        /// <returns>Null where the value is unknown: the run lacks the probe or the peer it is read against.</returns>
        public static Verdict? AtLeast(string label, double? value, double target, string format, double error) =>
            value is null ? null : new(label, Format(value, format), "≥ " + Format(target, format), value >= target,
                error > DisturbedError ? $"disturbed: error ±{Format(100 * error, "F0")}% of the mean" : null);

        private static string Format(double? value, string format) => value?.ToString(format, CultureInfo.InvariantCulture) ?? "-";
    }
}
