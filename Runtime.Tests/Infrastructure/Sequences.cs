using System;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>Cutting token ranges out of whole-sequence tensors, to feed a cache the way a decoder does.</summary>
public static class Sequences
{
    /// <summary>
    /// Tokens [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of a <c>[batch, sequence, heads, dim]</c>
    /// (Bshd) or <c>[batch, heads, sequence, dim]</c> (Bhsd) tensor, laid out as <paramref name="to"/> with <paramref name="count"/> tokens.
    /// </summary>
    public static float[] Tokens(
        float[] tensor, AttentionLayout from, AttentionLayout to, int batch, int sequence, int heads, int dim, int start, int count)
    {
        var result = new float[batch * count * heads * dim];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < count; t++)
            {
                for (int h = 0; h < heads; h++)
                {
                    int source = from == AttentionLayout.Bshd
                        ? ((b * sequence + start + t) * heads + h) * dim
                        : ((b * heads + h) * sequence + start + t) * dim;
                    int target = to == AttentionLayout.Bshd
                        ? ((b * count + t) * heads + h) * dim
                        : ((b * heads + h) * count + t) * dim;
                    tensor.AsSpan(source, dim).CopyTo(result.AsSpan(target, dim));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Decodes a whole problem through a cache, <paramref name="chunk"/> tokens per call as it draws them (1 for
    /// token-by-token decoding), and returns the outputs put back together in the problem's layout.
    /// </summary>
    public static float[] DecodeThroughCache(KernelUnderTest kernel, AttentionProblem problem, KvCache cache, Func<int> chunk)
    {
        AttentionConfiguration c = problem.Configuration;
        int batch = problem.Batch, n = problem.QueryLength;
        var output = new float[problem.OutputLength];
        for (int start = 0; start < n;)
        {
            int count = Math.Min(chunk(), n - start);
            cache.Append(
                Tokens(problem.Key, c.Layout, AttentionLayout.Bshd, batch, n, c.KvHeads, c.HeadDim, start, count),
                Tokens(problem.Value, c.Layout, AttentionLayout.Bshd, batch, n, c.KvHeads, c.ValueDim, start, count),
                count);
            float[] query = Tokens(problem.Query, c.Layout, c.Layout, batch, n, c.Heads, c.HeadDim, start, count);
            var rows = new float[batch * count * c.Heads * c.ValueDim];
            kernel.ForwardCached(query, cache, rows, batch, count, default);

            // Put the rows back at [start, start + count) of the whole output.
            for (int b = 0; b < batch; b++)
            {
                for (int t = 0; t < count; t++)
                {
                    for (int h = 0; h < c.Heads; h++)
                    {
                        int source = c.Layout == AttentionLayout.Bshd ? ((b * count + t) * c.Heads + h) * c.ValueDim : ((b * c.Heads + h) * count + t) * c.ValueDim;
                        int target = c.Layout == AttentionLayout.Bshd ? ((b * n + start + t) * c.Heads + h) * c.ValueDim : ((b * c.Heads + h) * n + start + t) * c.ValueDim;
                        rows.AsSpan(source, c.ValueDim).CopyTo(output.AsSpan(target, c.ValueDim));
                    }
                }
            }

            start += count;
        }

        return output;
    }
}
