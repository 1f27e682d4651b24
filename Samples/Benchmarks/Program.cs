using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Benchmarks;

/// <summary>
/// The prefill and decode benchmarks of docs/PERFORMANCE.md. Run everything with
/// <c>dotnet run -c Release --project Samples/Benchmarks -- --filter '*'</c>, or a part with a narrower filter. All
/// classes land in one joined summary, so every result can be read against the FMA peak or the read bandwidth measured in the same run.
/// <c>-- --memory</c> runs the memory check instead (<see cref="MemoryCheck"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["--memory"])
        {
            return MemoryCheck.Run();
        }

        IConfig config = DefaultConfig.Instance
            .AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(8))
            .AddColumn(new GflopsColumn(), new PeakFractionColumn(), new BandwidthColumn(), new BandwidthFractionColumn(), new PeerRatioColumn())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(MarkdownExporter.GitHub, new TargetsExporter())
            .WithOptions(ConfigOptions.JoinSummary);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }
}
