"""Programme admins review message libraries here; files (`import_library`) are the way to
load and change them in bulk."""

from __future__ import annotations

from django.contrib import admin

from scheduling.models import LibraryMessage, MessageLibrary


class LibraryMessageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = LibraryMessage
    extra = 0
    fields = ("key", "track", "category", "language", "position", "text", "approver", "approved_on")


@admin.register(MessageLibrary)
class MessageLibraryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("slug", "name", "is_sample", "updated_at")
    inlines = [LibraryMessageInline]


@admin.register(LibraryMessage)
class LibraryMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("key", "library", "track", "category", "language", "position", "approved_on")
    list_filter = ("library", "track", "category", "language")
    search_fields = ("key", "text")
