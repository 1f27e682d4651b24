using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using AttentionGen;

namespace QuickStart;

/// <summary>
/// Runs the kernels of Kernels.cs on realistic shapes, checks each against <see cref="ReferenceAttention"/>, and
/// prints how fast they are. Timings here are a demonstration; docs/PERFORMANCE.md has the benchmarks.
/// </summary>
public static class Program
{
    private delegate void Forward(float[] query, float[] key, float[] value, float[] output, int batch, int queryLength, int keyLength, int[] keyLengths);

    private sealed record Scenario(string Name, AttentionConfiguration Configuration, Forward Kernel, int Batch, int QueryLength, int KeyLength, int[] KeyLengths);

    public static int Main(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args is ["--widest-vector"])
        {
            // For .ci/run: which kernel path this process takes, under whatever DOTNET_Enable* switches it runs with.
            Console.WriteLine(WidestVector());
            return 0;
        }

        Scenario[] scenarios =
        {
            new("BERT-base encoder, padded batch", BertAttention.Configuration,
                (q, k, v, o, b, ql, kl, kls) => BertAttention.Forward(q, k, v, o, b, ql, kl, kls), 8, 128, 128, new[] { 128, 97, 64, 33, 128, 120, 7, 90 }),
            new("Llama 3 8B prefill, causal GQA", LlamaAttention.Configuration,
                (q, k, v, o, b, ql, kl, _) => LlamaAttention.Forward(q, k, v, o, b, ql, kl), 1, 384, 384, Array.Empty<int>()),
            new("Llama 3 8B decode, 1 token, 4096 cached", LlamaAttention.Configuration,
                (q, k, v, o, b, ql, kl, _) => LlamaAttention.Forward(q, k, v, o, b, ql, kl), 1, 1, 4096, Array.Empty<int>()),
            new("Mistral 7B prefill, window 256", MistralAttention.Configuration,
                (q, k, v, o, b, ql, kl, _) => MistralAttention.Forward(q, k, v, o, b, ql, kl), 1, 512, 512, Array.Empty<int>()),
            new("ViT-B/16 encoder, 197 tokens", VitAttention.Configuration,
                (q, k, v, o, b, ql, kl, _) => VitAttention.Forward(q, k, v, o, b, ql, kl), 4, 197, 197, Array.Empty<int>()),
        };

        Console.WriteLine($"Attention.Gen quick start: {Environment.ProcessorCount} threads, widest accelerated vector: {WidestVector()}.");
        Console.WriteLine();
        Console.WriteLine($"{"Configuration",-42} {"Shape (B x Sq x Sk)",-20} {"Max error",10} {"Kernel ms",10} {"GFLOP/s",8} {"Reference ms",13} {"Speed-up",9}");
        Console.WriteLine(new string('-', 118));

        bool allCorrect = true;
        foreach (Scenario scenario in scenarios)
        {
            allCorrect &= Run(scenario);
        }

        Console.WriteLine();
        Console.WriteLine("GFLOP/s counts 2 · (HeadDim + ValueDim) floating-point operations per visible query-key pair and head.");
        Console.WriteLine("Max error is against ReferenceAttention, which accumulates in double.");
        Console.WriteLine();
        allCorrect &= RunDecoding();
        Console.WriteLine();
        ShowGeneratedFiles();
        return allCorrect ? 0 : 1;
    }

    private static bool Run(Scenario s)
    {
        AttentionConfiguration c = s.Configuration;
        var random = new Random(42);
        float[] query = Normal(random, s.Batch * s.QueryLength * c.Heads * c.HeadDim);
        float[] key = Normal(random, s.Batch * s.KeyLength * c.KvHeads * c.HeadDim);
        float[] value = Normal(random, s.Batch * s.KeyLength * c.KvHeads * c.ValueDim);
        var output = new float[s.Batch * s.QueryLength * c.Heads * c.ValueDim];
        var expected = new float[output.Length];

        // Warm up (the JIT compiles the path for this machine), then take the best of several runs.
        s.Kernel(query, key, value, output, s.Batch, s.QueryLength, s.KeyLength, s.KeyLengths);
        double kernelMs = Best(5, () => s.Kernel(query, key, value, output, s.Batch, s.QueryLength, s.KeyLength, s.KeyLengths));
        double referenceMs = Best(1, () => ReferenceAttention.Forward(c, query, key, value, expected, s.Batch, s.QueryLength, s.KeyLength, s.KeyLengths));

        double maxError = output.Zip(expected, (a, e) => Math.Abs((double)a - e)).Max();
        double flops = 2.0 * (c.HeadDim + c.ValueDim) * c.Heads * VisiblePairs(s);
        bool correct = maxError <= 1e-4;
        string shape = $"{s.Batch} x {s.QueryLength} x {s.KeyLength}";
        Console.WriteLine($"{s.Name,-42} {shape,-20} {maxError,10:E1} {kernelMs,10:F3} {flops / kernelMs / 1e6,8:F1} {referenceMs,13:F1} {referenceMs / kernelMs,8:F0}x{(correct ? string.Empty : "  WRONG")}");
        return correct;
    }

    private delegate void Decode(float[] query, KvCache cache, float[] output);

    /// <summary>
    /// Decodes one token of Llama 3 8B (grouped-query) and of Llama 2 7B (multi-head) against a KvCache of 4096 tokens,
    /// stored as Single and as Half, and checks each against ReferenceAttention over the same cache.
    /// </summary>
    private static bool RunDecoding()
    {
        const int cached = 4096;
        (string Name, AttentionConfiguration Configuration, Func<KvCachePrecision, KvCache> CreateCache, Decode Kernel)[] models =
        {
            ("Llama 3 8B", LlamaAttention.Configuration, precision => LlamaAttention.CreateCache(batch: 1, capacity: cached, precision),
                (q, cache, o) => LlamaAttention.Forward(q, cache, o, batch: 1, queryLength: 1)),
            ("Llama 2 7B", Llama2Attention.Configuration, precision => Llama2Attention.CreateCache(batch: 1, capacity: cached, precision),
                (q, cache, o) => Llama2Attention.Forward(q, cache, o, batch: 1, queryLength: 1)),
        };

        Console.WriteLine($"{"Decoding 1 token through a KvCache",-42} {"Cache",-20} {"Max error",10} {"Kernel ms",10} {"GB/s",8}");
        Console.WriteLine(new string('-', 94));
        bool correct = true;
        foreach (var model in models)
        {
            AttentionConfiguration c = model.Configuration;
            var random = new Random(7);
            float[] keys = Normal(random, cached * c.KvHeads * c.HeadDim);
            float[] values = Normal(random, cached * c.KvHeads * c.ValueDim);
            float[] query = Normal(random, c.Heads * c.HeadDim);
            var output = new float[c.Heads * c.ValueDim];
            var expected = new float[output.Length];
            foreach (KvCachePrecision precision in new[] { KvCachePrecision.Single, KvCachePrecision.Half })
            {
                KvCache cache = model.CreateCache(precision);
                cache.Append(keys, values, cached);
                model.Kernel(query, cache, output);
                double kernelMs = Best(20, () => model.Kernel(query, cache, output));
                ReferenceAttention.Forward(c, query, cache, expected, batch: 1, queryLength: 1);
                double maxError = output.Zip(expected, (a, e) => Math.Abs((double)a - e)).Max();
                double bytes = (double)cached * c.KvHeads * (c.HeadDim + c.ValueDim) * (precision == KvCachePrecision.Single ? 4 : 2);
                bool ok = maxError <= 1e-4;
                correct &= ok;
                Console.WriteLine($"{model.Name + ", " + precision + " storage",-42} {cached + " tokens",-20} {maxError,10:E1} {kernelMs,10:F3} {bytes / kernelMs / 1e6,8:F1}{(ok ? string.Empty : "  WRONG")}");
            }
        }

        Console.WriteLine("GB/s counts the key and value bytes each step reads. ReferenceAttention reads the same cache, so Half is");
        Console.WriteLine("compared with what it stores; against a Single cache it stays within 2e-3 on unit-scale data.");
        return correct;
    }

    /// <summary>How many (query, key) pairs the masks leave visible, summed over the batch.</summary>
    private static long VisiblePairs(Scenario s)
    {
        AttentionConfiguration c = s.Configuration;
        long pairs = 0;
        for (int b = 0; b < s.Batch; b++)
        {
            int valid = (c.Mask & AttentionMask.KeyPadding) != 0 ? s.KeyLengths[b] : s.KeyLength;
            long offset = c.Alignment == MaskAlignment.BottomRight ? valid - s.QueryLength : 0;
            for (int i = 0; i < s.QueryLength; i++)
            {
                long p = i + offset, first = 0, end = valid;
                if ((c.Mask & AttentionMask.Causal) != 0)
                {
                    end = Math.Min(end, p + 1);
                }

                if ((c.Mask & AttentionMask.SlidingWindow) != 0)
                {
                    first = Math.Max(first, p - c.WindowLeft);
                    end = Math.Min(end, p + c.WindowRight + 1);
                }

                pairs += Math.Max(0, end - first);
            }
        }

        return pairs;
    }

    private static double Best(int runs, Action action)
    {
        double best = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        return best;
    }

    private static float[] Normal(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble()));
        }

        return values;
    }

    private static string WidestVector() =>
        System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512"
        : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256"
        : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128"
        : "none (scalar path)";

    /// <summary>Points at the generated kernels: the project sets EmitCompilerGeneratedFiles, so they are on disk.</summary>
    private static void ShowGeneratedFiles()
    {
        DirectoryInfo? project = new(AppContext.BaseDirectory);
        while (project is not null && !File.Exists(Path.Combine(project.FullName, "QuickStart.csproj")))
        {
            project = project.Parent;
        }

        string? generated = project is null ? null : Directory
            .EnumerateDirectories(Path.Combine(project.FullName, "obj"), "AttentionGen.Generator.AttentionGenerator", SearchOption.AllDirectories)
            .OrderByDescending(Directory.GetLastWriteTimeUtc)
            .FirstOrDefault();
        if (generated is null)
        {
            Console.WriteLine("The generated kernels are written under obj/<Configuration>/net10.0/generated/ when EmitCompilerGeneratedFiles is true.");
            return;
        }

        Console.WriteLine("The generated kernels (EmitCompilerGeneratedFiles is on in QuickStart.csproj):");
        foreach (string file in Directory.GetFiles(generated, "*.g.cs").Order())
        {
            Console.WriteLine("  " + Path.GetRelativePath(Environment.CurrentDirectory, file));
        }
    }
}
