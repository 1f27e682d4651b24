#!/usr/bin/env bash
# Packs AttentionGen, checks what the package says about itself (icon, release notes, README without relative links,
# repository only when the build comes from one, DLLs with embedded PDBs and no path of this machine), then meets it
# the way a user does: a fresh console project outside the repository restores the package from a local folder,
# declares a kernel, builds, runs, and checks the answer against ReferenceAttention. The project builds with the
# NativeAOT and trimming analyzers on and warnings as errors, so the generated code must be AOT-clean; the package's
# NativeAOT instruction-set check (ATTN1001) is tried on it both ways. .ci/run publishes QuickStart with NativeAOT.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== pack"
dotnet pack "$root/Attention.Gen.sln" -c Release -p:PackageOutputPath="$work/feed" --nologo -v quiet
packages=("$work"/feed/*.nupkg)
if [ "${#packages[@]}" -ne 1 ]; then
  echo "expected exactly one package, found: ${packages[*]}" >&2
  exit 1
fi
package=${packages[0]}
version=$(basename "$package" .nupkg | sed 's/^AttentionGen\.//')
echo "packed $(basename "$package")"

# The package holds the runtime with its XML docs, the generator, the build logic, the icon and the README, and
# nothing else from the repository.
contents=$(unzip -Z1 "$package" | grep -vE '^(_rels/|package/|\[Content_Types\]\.xml$|AttentionGen\.nuspec$)' | sort)
expected=$(printf '%s\n' README.md icon.png analyzers/dotnet/cs/AttentionGen.Generator.dll lib/net10.0/AttentionGen.dll lib/net10.0/AttentionGen.xml \
  build/AttentionGen.targets buildTransitive/AttentionGen.targets | sort)
if [ "$contents" != "$expected" ]; then
  echo "unexpected package contents:" >&2
  echo "$contents" >&2
  exit 1
fi

echo "== package metadata"
fail() { echo "package metadata: $*" >&2; exit 1; }
nuspec=$(unzip -p "$package" AttentionGen.nuspec)
for element in '<icon>icon.png</icon>' '<readme>README.md</readme>' '<license type="expression">MIT</license>' '<releaseNotes>'; do
  grep -qF "$element" <<<"$nuspec" || fail "the nuspec lacks $element"
done
origin=$(git -C "$root" config --get remote.origin.url || true)
readme=$(unzip -p "$package" README.md)
if grep -qE '\]\([^h#)][^)]*\)' <<<"$readme"; then
  fail "the packed README has relative links, which do not resolve on a package page: $(grep -oE '\]\([^h#)][^)]*\)' <<<"$readme" | head -3 | tr '\n' ' ')"
fi
if [[ "$origin" == https://* || "$origin" == git@* ]]; then
  grep -q '<repository type="git" url="https://' <<<"$nuspec" || fail "the build comes from $origin, but the nuspec names no repository"
  echo "repository: $(grep -o '<repository[^>]*>' <<<"$nuspec")"
else
  if grep -q '<repository[^>]*url=' <<<"$nuspec"; then fail "the nuspec names a repository, but this clone has no remote address"; fi
  echo "repository: none named (this clone's origin, '${origin:-none}', is no web address); README links reduced to their text"
fi
for dll in lib/net10.0/AttentionGen.dll analyzers/dotnet/cs/AttentionGen.Generator.dll; do
  if unzip -p "$package" "$dll" | grep -qaF "$root"; then
    fail "$dll embeds a path of this machine ($root)"
  fi
done
echo "icon, readme, license, release notes: present; no build-machine paths in the DLLs"

echo "== a fresh console project, outside the repository"
app="$work/app"
mkdir -p "$app"
cat > "$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$app/Smoke.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
    <InvariantGlobalization>true</InvariantGlobalization>
    <EnableAotAnalyzer>true</EnableAotAnalyzer>
    <EnableTrimAnalyzer>true</EnableTrimAnalyzer>
    <EnableSingleFileAnalyzer>true</EnableSingleFileAnalyzer>
    <EmitCompilerGeneratedFiles>true</EmitCompilerGeneratedFiles>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="AttentionGen" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > "$app/Program.cs" <<'CS'
using System;
using AttentionGen;

[Attention(Heads = 8, KvHeads = 2, HeadDim = 72, Mask = AttentionMask.Causal | AttentionMask.KeyPadding,
           Alignment = MaskAlignment.BottomRight)]
public static partial class SmokeAttention;

public static class Program
{
    public static int Main()
    {
        const int batch = 2, queryLength = 40, keyLength = 300;
        var random = new Random(7);
        float[] query = Fill(new float[batch * queryLength * SmokeAttention.Heads * SmokeAttention.HeadDim]);
        float[] key = Fill(new float[batch * keyLength * SmokeAttention.KvHeads * SmokeAttention.HeadDim]);
        float[] value = Fill(new float[batch * keyLength * SmokeAttention.KvHeads * SmokeAttention.ValueDim]);
        int[] keyLengths = { 300, 123 };
        var output = new float[batch * queryLength * SmokeAttention.Heads * SmokeAttention.ValueDim];
        var expected = new float[output.Length];

        SmokeAttention.Forward(query, key, value, output, batch, queryLength, keyLength, keyLengths);
        ReferenceAttention.Forward(SmokeAttention.Configuration, query, key, value, expected, batch, queryLength, keyLength, keyLengths);

        double maxError = 0;
        for (int i = 0; i < output.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs((double)output[i] - expected[i]));
        }

        Console.WriteLine($"max error against ReferenceAttention: {maxError:E2}");

        // The runtime carries its PDB inside the DLL, with its sources, so a debugger steps into it from the package.
        using var pe = new System.Reflection.PortableExecutable.PEReader(System.IO.File.OpenRead(System.IO.Path.Combine(AppContext.BaseDirectory, "AttentionGen.dll")));
        bool embeddedPdb = false;
        foreach (var entry in pe.ReadDebugDirectory())
        {
            embeddedPdb |= entry.Type == System.Reflection.PortableExecutable.DebugDirectoryEntryType.EmbeddedPortablePdb;
        }

        Console.WriteLine($"embedded PDB in AttentionGen.dll: {embeddedPdb}");
        return maxError <= 1e-4 && embeddedPdb ? 0 : 1;

        float[] Fill(float[] values)
        {
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)(random.NextDouble() * 2 - 1);
            }

            return values;
        }
    }
}
CS

export NUGET_PACKAGES="$work/packages"   # a cache of its own, so no older build of the same version can stand in
dotnet build "$app" -c Release --nologo -v quiet
generated=$(find "$app/obj" -path '*AttentionGen.Generator.AttentionGenerator*' -name 'SmokeAttention.g.cs')
if [ -z "$generated" ]; then
  echo "the generator from the package did not write SmokeAttention.g.cs" >&2
  exit 1
fi
echo "generated by the packaged analyzer: ${generated#"$app/"}"
dotnet run --project "$app" -c Release --no-build

echo "== the NativeAOT instruction-set check (ATTN1001)"
aot=(dotnet msbuild "$app" -nologo -v:m -t:AttentionGenCheckInstructionSet -p:PublishAot=true -p:RuntimeIdentifier=linux-x64)
check=$("${aot[@]}" 2>&1) || { echo "$check" >&2; fail "the check itself failed"; }
grep -q 'warning ATTN1001' <<<"$check" || { echo "$check" >&2; fail "PublishAot with the default instruction set should warn ATTN1001"; }
echo "default baseline:$(grep -o 'ATTN1001: [^,]*' <<<"$check" | head -1 | cut -d: -f2)"
for quiet in -p:IlcInstructionSet=x86-64-v3 -p:IlcInstructionSet=native -p:NoWarn=ATTN1001; do
  check=$("${aot[@]}" "$quiet" 2>&1) || { echo "$check" >&2; fail "the check failed with $quiet"; }
  if grep -q 'ATTN1001' <<<"$check"; then echo "$check" >&2; fail "$quiet should not warn"; fi
  echo "$quiet: no warning"
done
echo "package smoke test passed"
