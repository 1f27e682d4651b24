using System;
using System.Diagnostics;
using System.Linq;
using System.Text;
using AttentionGen;
using TinyGpt;

// TinyGpt: greedy decoding with a KV cache, checked against recomputing the whole sequence.
//
//   dotnet run -c Release --project Samples/TinyGpt [-- tokens]
//
// For each cache precision it decodes the prompt in one cached prefill call (queryLength = prompt length), then one token
// at a time, and prints tokens per second. Then it recomputes the whole sequence without a cache and checks that every
// generated token is the argmax of the recomputed logits at its position, and that the logits agree. Exit code 1 if not.

int generate = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 200;
byte[] prompt = Encoding.ASCII.GetBytes("Attention.Gen decodes with a KV cache: ");
var model = new Model(seed: 2026);
Console.WriteLine($"TinyGpt: {Model.Layers} layers of width {Model.Width}, {Model.Heads} query heads sharing {Model.KvHeads} key/value heads of {Model.HeadDim}, MLP {Model.Hidden}, vocabulary {Model.Vocabulary} bytes.");
Console.WriteLine($"Prompt of {prompt.Length} tokens, {generate} generated greedily. Attention threads: {AttentionRuntime.MaxDegreeOfParallelism}.");
Console.WriteLine();

bool ok = true;
foreach (KvCachePrecision precision in new[] { KvCachePrecision.Single, KvCachePrecision.Half })
{
    // Once to warm up (JIT), once timed.
    (byte[] sequence, float[][] logits, double seconds) = Decode(model, prompt, generate, precision);
    (sequence, logits, seconds) = Decode(model, prompt, generate, precision);

    float[] recomputed = model.Recompute(sequence.AsSpan(0, sequence.Length - 1), halfKeysAndValues: precision == KvCachePrecision.Half);
    int mismatches = 0;
    double largestDifference = 0, smallestMargin = double.MaxValue;
    for (int step = 0; step < generate; step++)
    {
        int position = prompt.Length - 1 + step; // the logits after this position chose sequence[position + 1]
        ReadOnlySpan<float> full = recomputed.AsSpan(position * Model.Vocabulary, Model.Vocabulary);
        if (ArgMax(full) != sequence[position + 1])
        {
            mismatches++;
        }

        for (int i = 0; i < Model.Vocabulary; i++)
        {
            largestDifference = Math.Max(largestDifference, Math.Abs(full[i] - logits[step][i]));
        }

        float[] sorted = full[' '..127].ToArray().OrderDescending().ToArray();
        smallestMargin = Math.Min(smallestMargin, sorted[0] - sorted[1]);
    }

    bool agrees = mismatches == 0 && largestDifference < 1e-3;
    ok &= agrees;
    Console.WriteLine($"{precision} cache: {generate / seconds:F0} tokens/s ({seconds * 1000 / generate:F2} ms per token, prefill included)");
    Console.WriteLine($"  text: {Printable(sequence.AsSpan(prompt.Length))}");
    Console.WriteLine($"  vs full recomputation: {generate - mismatches} of {generate} tokens equal, largest logit difference {largestDifference:E1}, smallest top-2 margin {smallestMargin:E1}: {(agrees ? "OK" : "MISMATCH")}");
}

return ok ? 0 : 1;

static (byte[] Sequence, float[][] Logits, double Seconds) Decode(Model model, byte[] prompt, int generate, KvCachePrecision precision)
{
    KvCache[] caches = model.CreateCaches(batch: 1, capacity: prompt.Length + generate, precision);
    var sequence = new byte[prompt.Length + generate];
    prompt.CopyTo(sequence, 0);
    var logits = new float[generate][];
    var watch = Stopwatch.StartNew();
    ReadOnlySpan<byte> next = prompt;
    for (int step = 0; step < generate; step++)
    {
        logits[step] = new float[Model.Vocabulary];
        model.Step(next, caches, logits[step]);
        sequence[prompt.Length + step] = (byte)ArgMax(logits[step]);
        next = sequence.AsSpan(prompt.Length + step, 1);
    }

    return (sequence, logits, watch.Elapsed.TotalSeconds);
}

// Greedy over the printable ASCII bytes, so that the text can be shown.
static int ArgMax(ReadOnlySpan<float> values)
{
    int best = ' ';
    for (int i = ' ' + 1; i < 127; i++)
    {
        if (values[i] > values[best])
        {
            best = i;
        }
    }

    return best;
}

static string Printable(ReadOnlySpan<byte> bytes)
{
    var text = new StringBuilder(bytes.Length);
    foreach (byte b in bytes)
    {
        text.Append(b is >= 32 and < 127 ? (char)b : '·');
    }

    return text.ToString();
}
