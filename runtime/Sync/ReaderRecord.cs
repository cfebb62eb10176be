using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Memory;

namespace Hvrt.Sync;

/// <summary>
/// What an <c>hvrt_reader *</c> points to: one registered QSBR reader, one cache line, so readers
/// never share a line with each other. Allocated natively and kept until the VM is destroyed (see
/// <see cref="ReaderRegistry"/>); the writer reads only <see cref="Ctr"/> and <see cref="Next"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct ReaderRecord
{
    /// <summary>"hvrt-rdr": registered.</summary>
    public const ulong LiveMagic = 0x7264722d74727668;

    /// <summary>"hvrt-unr": unregistered, on the free list; calls with it are -EBADF.</summary>
    public const ulong FreeMagic = 0x726e752d74727668;

    /// <summary>
    /// "hvrt-rdd": registered in debug mode (HVRT_DEBUG=1). Not <see cref="LiveMagic"/>, so the
    /// exports' one compare sends every call with it to the checked path (<see cref="ReaderGuard"/>)
    /// and release mode pays nothing for the checks. Such a record has a <see cref="ReaderDebug"/>
    /// right after it.
    /// </summary>
    public const ulong DebugLiveMagic = 0x6464722d74727668;

    public ulong Magic;
    /// <summary>The VM this reader reads (hvrt_reader_layout.vm); Sync only stores it.</summary>
    public VmLayout* Vm;

    /// <summary>0 = offline; else the VM's grace-period counter as this reader last observed it.</summary>
    public ulong Ctr;

    /// <summary>The next record of the VM's list; set before the record is linked, never changed after.</summary>
    public ReaderRecord* Next;

    public ReaderCache Cache0;
    public ReaderCache Cache1;

    /// <summary>Registered, in either mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsLive(ReaderRecord* r) => r->Magic == LiveMagic || r->Magic == DebugLiveMagic;

    /// <summary>Bytes of a record's allocation: the record, plus its <see cref="ReaderDebug"/> in debug mode.</summary>
    public static nuint AllocBytes => (nuint)(sizeof(ReaderRecord) + (DebugMode.Enabled ? sizeof(ReaderDebug) : 0));

    /// <summary>The last-hit cache of an address space; asId is below the VM's count (at most 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReaderCache* CacheOf(ReaderRecord* r, uint asId)
    {
        Debug.Assert(asId < VmLayout.MaxAddressSpaces, "as_id is checked against the VM before the cache is used");
        return &r->Cache0 + asId;
    }
}
