//! SharePoint through the real Graph client against the simulated Graph: site by path, its
//! document libraries, the (site, library) -> drive cache, uploads into a library folder, and
//! what a withdrawn permission or a deleted site looks like.
#![cfg(feature = "demo")]

mod outbox_support;

use std::time::Duration;

use mfp_kiosk::graph::{
    DriveTarget, FragmentSize, GraphClient, GraphError, RetryPolicy, SiteRef, SiteResolver,
    UploadRequest, Uploader,
};
use mfp_kiosk::sim::SimSite;
use outbox_support::*;

const FINANCE: &str = "contoso.sharepoint.com:/sites/Finance";

#[tokio::test]
async fn site_by_path_libraries_and_the_drive_cache() {
    let (sim, dir) = start_sim(|o| {
        let mut hr = SimSite::new("contoso.sharepoint.com", "/sites/HR", "Documents");
        hr.libraries.push("Payroll Archive".into());
        o.sites.push(hr);
    })
    .await;
    let tokens = sign_in(&sim, &user(&sim, "alex@contoso.example").oid).await;
    let token = tokens.state_token().await;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();

    let site = graph
        .site_by_path(
            &token,
            &SiteRef::parse("contoso.sharepoint.com:/sites/hr").unwrap(),
        )
        .await
        .unwrap();
    assert!(
        site.id.starts_with("contoso.sharepoint.com,"),
        "{}",
        site.id
    );
    let drives = graph.site_drives(&token, &site.id).await.unwrap();
    let names: Vec<&str> = drives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Documents", "Payroll Archive"]);
    assert!(drives.iter().all(|d| d.drive_type == "documentLibrary"));

    let resolver = SiteResolver::new();
    let finance = SiteRef::parse(FINANCE).unwrap();
    let drive = resolver
        .drive(&graph, &token, &finance, "documents")
        .await
        .unwrap();
    // Cached: a queued outage is not even noticed by the second resolution...
    sim.inject_graph_faults(1, 503, None);
    assert_eq!(
        resolver
            .drive(&graph, &token, &finance, "Documents")
            .await
            .unwrap(),
        drive
    );
    // ...but the next real request gets it.
    assert_eq!(graph.me(&token).await.unwrap_err().status(), Some(503));
    assert_eq!(resolver.len(), 1);

    let missing = resolver
        .drive(&graph, &token, &finance, "Shared Invoices")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, GraphError::LibraryNotFound { .. }),
        "{missing}"
    );
    assert!(missing.is_destination_gone());

    // An upload session into a library folder that does not exist yet.
    let (path, data) = write_file(dir.path(), "inv.pdf", 5 * 1024 * 1024, 11);
    let uploader = Uploader::new(graph.clone(), RetryPolicy::default());
    let mut req = UploadRequest::new(&drive, "Invoices/2025-06", "inv.pdf", &path);
    req.fragment = FragmentSize::from_units(4).unwrap();
    let item = uploader.upload(&req, &tokens).await.unwrap();
    assert_eq!(
        item.drive_id.as_deref(),
        Some(match &drive {
            DriveTarget::Drive(id) => id.as_str(),
            DriveTarget::Me | DriveTarget::User(_) => unreachable!("a library is a drive by id"),
        })
    );
    let landed = sim
        .site_drive_dir("/sites/Finance", "Documents")
        .join("Invoices/2025-06/inv.pdf");
    assert!(std::fs::read(landed).unwrap() == data);
    assert_eq!(sim.stats().upload_sessions, 1);
    assert!(files_under(&sim.user_drive_dir("alex@contoso.example")).is_empty());
}

#[tokio::test]
async fn withdrawn_access_and_deleted_sites_are_final() {
    let (sim, dir) = start_sim(|_| {}).await;
    let alex = user(&sim, "alex@contoso.example");
    let tokens = sign_in(&sim, &alex.oid).await;
    let token = tokens.state_token().await;
    let graph = GraphClient::new(sim.graph_endpoint()).unwrap();
    let finance = SiteRef::parse(FINANCE).unwrap();
    let drive = SiteResolver::new()
        .drive(&graph, &token, &finance, "Documents")
        .await
        .unwrap();
    let (path, _) = write_file(dir.path(), "x.pdf", 1000, 12);

    // Only Megan may use the site now.
    let megan = user(&sim, "megan@contoso.example");
    assert!(sim.set_site_members("/sites/Finance", Some(vec![megan.oid.clone()])));
    let denied = graph.site_by_path(&token, &finance).await.unwrap_err();
    assert_eq!(denied.status(), Some(403));
    let uploader = Uploader::new(
        graph.clone(),
        RetryPolicy {
            base_delay: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
    );
    let err = uploader
        .upload(&UploadRequest::new(&drive, "", "x.pdf", &path), &tokens)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.is_destination_gone() && !err.is_transient());

    // The site is deleted: its path and its drives are 404.
    assert!(sim.remove_site("contoso.sharepoint.com", "/sites/Finance"));
    assert_eq!(
        graph
            .site_by_path(&token, &finance)
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    let err = uploader
        .upload(&UploadRequest::new(&drive, "", "x.pdf", &path), &tokens)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.is_destination_gone());
    assert_eq!(sim.stats().uploads, 0);
}
