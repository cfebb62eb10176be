using System.Runtime.InteropServices;

namespace Hvrt.Layout;

/// <summary>
/// struct hvrt_reader_cache (hvrt_inline.h): one address space's last hit: the entry a reader found and the generation of the snapshot it
/// lies in. Used only if the current snapshot has that generation: generations of an address
/// space only rise, so equal generation means the same (live) snapshot, and a stale entry pointer
/// is never dereferenced.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal unsafe struct ReaderCache
{
    /// <summary>
    /// No entry. Generation UINT64_MAX is never a snapshot's, so a lookup that compares only the
    /// generation (an inline C reader) never takes the null entry.
    /// </summary>
    public static readonly ReaderCache Empty = new() { Generation = ulong.MaxValue };

    public ulong Generation;
    public SlotEntry* Entry;
}
