//! File-name and folder templates ({date}, {user}, ...) and their sanitising for OneDrive/SharePoint.
