using System.Runtime.InteropServices;

namespace Hvrt.Sync;

/// <summary>
/// The registered readers of one VM and their grace-period counter (<see cref="GracePeriod"/>,
/// <see cref="ReaderRegistry"/>). Embedded in the VM's handle, so a writer reaches it without
/// managed state; Sync knows nothing else of the handle.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal unsafe struct GraceDomain
{
    /// <summary>Grace-period counter of registered readers; 0 until the first registration.</summary>
    public ulong Counter;

    /// <summary>Every reader record of the VM: a list that only grows until destroy.</summary>
    public ReaderRecord* Readers;
}
